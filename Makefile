# tinyc: the two quick-start commands and the steps behind them.
#   make demo   install what is missing, build the example model, compile it for the
#               default board and run it on the emulated Cortex-M7
#   make test   install what is missing and run the whole test suite
PYTHON ?= python3
PIP := $(PYTHON) -m pip
BOARD ?= stm32f746
DEMO_OUT ?= build/digits
JOBS ?= 2

.PHONY: setup setup-python setup-system demo test test-fast clean

setup: setup-system setup-python

# Debian packages for the Cortex-M cross build and the emulator; installed only when missing.
setup-system:
	@missing=""; \
	command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing="$$missing gcc-arm-none-eabi"; \
	[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -d /usr/lib/arm-none-eabi/newlib ] || missing="$$missing libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null 2>&1 || missing="$$missing qemu-system-arm"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

setup-python:
	$(PIP) install -q --disable-pip-version-check -e '.[test]'
	$(PIP) install -q --disable-pip-version-check --pre tflite-micro

demo: setup
	$(PYTHON) examples/digits/make_model.py --out examples/digits/digits_int8.onnx
	tinyc compile examples/digits/digits_int8.onnx --board $(BOARD) -o $(DEMO_OUT)
	$(PYTHON) examples/digits/make_input.py --out $(DEMO_OUT)/input.npy
	tinyc run $(DEMO_OUT) --target qemu-m7 --input $(DEMO_OUT)/input.npy --output $(DEMO_OUT)/output.npy

test: setup
	$(PYTHON) -m pytest -n $(JOBS) -q tests

test-fast:
	$(PYTHON) -m pytest -n $(JOBS) -q -m "not models and not slow" tests

clean:
	rm -rf build .pytest_cache .hypothesis
