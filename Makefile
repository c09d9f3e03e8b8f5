# `make` builds the four programs and leaves them in bin/ (as the original README says):
# bin/hookd, bin/deployd, bin/deploy and bin/provision. A thin wrapper over the CMake build in its
# own tree (build-make/, optimised, without tests), so the test tree ./build is left alone;
# scripts/build configures it once and serialises builds.
#   make            all four          make hookd | deployd | deploy | provision   one of them
#   make test       scripts/test      make clean   removes bin/ and build-make/
BUILD_DIR := build-make
PROGRAMS := hookd deployd deploy provision

.PHONY: all $(PROGRAMS) bootstrap test clean

all: bootstrap
	@$(MAKE) --no-print-directory build TARGETS="$(PROGRAMS)"

$(PROGRAMS): bootstrap
	@$(MAKE) --no-print-directory build TARGETS="$@"

bootstrap:
	@scripts/bootstrap build

.PHONY: build
build:
	BUILD_DIR=$(BUILD_DIR) BUILD_TYPE=RelWithDebInfo PROJECT_WERROR=OFF \
	  CMAKE_EXTRA_ARGS="-DDEPLOY_BUILD_TESTS=OFF -DDEPLOY_DEBUG_INFO=OFF" \
	  scripts/build $(TARGETS)
	@mkdir -p bin
	@for p in $(TARGETS); do install -m 0755 $(BUILD_DIR)/bin/$$p bin/$$p && echo "bin/$$p"; done

test:
	scripts/test

clean:
	rm -rf bin $(BUILD_DIR)
