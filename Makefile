# A thin front door; the steps live in scripts/ (each installs what it needs).
.PHONY: demo test test-asan test-valgrind test-gc-stress fuzz fuzz-long fuzz-hostile soak build bench clean

demo:            ## the main job: concurrent service calls against a local service
	@scripts/demo
test:            ## the whole test suite (lint + specs)
	@scripts/test
test-asan:       ## the suite under ASan + UBSan
	@scripts/test --asan
test-valgrind:   ## the suite under valgrind memcheck
	@scripts/test --valgrind
test-gc-stress:  ## the suite with a full GC at every await and callback
	@scripts/test --gc-stress
fuzz:            ## a short pass of the API fuzzer with a fixed seed (as CI runs it)
	@scripts/fuzz --calls 20000 --seed 1
fuzz-long:       ## 100,000 random API calls, a new seed each time
	@scripts/fuzz --calls 100000
fuzz-hostile:    ## the short pass plus the operations that crash tide today (known_crash in fuzz/ops/)
	@scripts/fuzz --calls 20000 --seed 1 --hostile
soak:            ## 1M promises, 100k HTTP requests, a 1 GiB file by lines and through tide.pipe; RSS must stay flat
	@scripts/soak
build:
	@scripts/build
bench:           ## benchmarks against peers; writes bench/RESULTS.md
	@bench/run
clean:
	rm -rf build build-asan build.luarocks
