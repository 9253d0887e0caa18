# A thin front door; the steps live in scripts/ (each installs what it needs).
.PHONY: demo test test-asan build bench clean

demo:        ## the main job: concurrent service calls against a local service
	@scripts/demo
test:        ## the whole test suite (lint + specs)
	@scripts/test
test-asan:   ## the suite under ASan + UBSan
	@scripts/test --asan
build:
	@scripts/build
bench:       ## benchmarks against peers; writes bench/RESULTS.md
	@bench/run
clean:
	rm -rf build build-asan build.luarocks
