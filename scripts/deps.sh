# Sourced by the other scripts: installs Debian packages that are missing.
#
#   need_packages PKG...   installs whichever of PKG... is not installed yet
#                          (runs `apt-get update` first, once per run)

apt_updated=
need_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}" >&2
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq >&2
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# What building tide needs, and what running its specs needs.
BUILD_PACKAGES=(gcc g++ make cmake pkg-config lua5.4 liblua5.4-dev libuv1-dev libcurl4-openssl-dev rapidjson-dev libssl-dev)
TEST_PACKAGES=(lua-cjson lua-busted lua-check luarocks nginx python3 procps curl openssl clang-format
  lua-expat python3-botocore)

# Node tools the specs use (s3rver: an S3-compatible server; dynalite: a
# DynamoDB-compatible one), installed from the npm registry into .cache/npm
# of the checkout.
S3RVER_VERSION=3.7.1
DYNALITE_VERSION=4.0.0
need_s3rver() {
  command -v npm >/dev/null 2>&1 || need_packages nodejs npm
  local dir=.cache/npm
  if [ ! -x "$dir/node_modules/.bin/s3rver" ]; then
    echo "installing s3rver@$S3RVER_VERSION into $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" "s3rver@$S3RVER_VERSION" --no-audit --no-fund --loglevel=error >&2
  fi
}
need_node_tools() {
  need_s3rver
  local dir=.cache/npm
  if [ ! -x "$dir/node_modules/.bin/dynalite" ]; then
    echo "installing dynalite@$DYNALITE_VERSION into $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" "dynalite@$DYNALITE_VERSION" --no-audit --no-fund --loglevel=error >&2
  fi
  need_sigv4_suite
}

# The AWS Signature Version 4 test suite, as the AWS SDK for JavaScript
# published it (dist-cjs/suite.fixture.js of @aws-sdk/signature-v4), turned
# into .cache/sigv4-suite/suite.json for spec/aws_sign_spec.lua.
SIGV4_SUITE_VERSION=3.329.0
need_sigv4_suite() {
  local dir=.cache/sigv4-suite
  [ -f "$dir/suite.json" ] && return 0
  command -v npm >/dev/null 2>&1 || need_packages nodejs npm
  echo "fetching @aws-sdk/signature-v4@$SIGV4_SUITE_VERSION's test suite into $dir" >&2
  mkdir -p "$dir/pkg"
  local tgz
  tgz=$(cd "$dir" && npm pack "@aws-sdk/signature-v4@$SIGV4_SUITE_VERSION" --silent --loglevel=error) &&
    tar xzf "$dir/$tgz" -C "$dir/pkg" package/dist-cjs/suite.fixture.js &&
    node -e 'process.stdout.write(JSON.stringify(require(process.argv[1])))' \
      "$PWD/$dir/pkg/package/dist-cjs/suite.fixture.js" >"$dir/suite.json.tmp" &&
    mv "$dir/suite.json.tmp" "$dir/suite.json"
  rm -rf "$dir/pkg" "$dir"/*.tgz
  [ -f "$dir/suite.json" ]
}
