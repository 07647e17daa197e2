# podman-bootc: build, test, install. `make demo` and `make test` are the README's two commands.
PREFIX ?= /usr/local
# CI=true turns warnings into errors (Package.swift reads it).
SWIFT_FLAGS ?=

.PHONY: build release setup image container demo test unit e2e bench install clean

build:
	swift build $(SWIFT_FLAGS)

release:
	swift build -c release $(SWIFT_FLAGS)

# System packages, rootful podman settings, libvirtd/virtlogd (idempotent; root).
setup:
	scripts/setup.sh

# The embedded default test image localhost/podman-bootc-test:debian (skipped when up to date).
image: setup
	scripts/build-demo-image.sh

# The tool's own container image, offline (localhost/podman-bootc:latest).
container: setup
	scripts/build-container-image.sh

# Set everything up and boot the demo image: ends with output from inside the VM.
demo: image release
	.build/release/podman-bootc run --rm localhost/podman-bootc-test:debian -- \
	  sh -c 'echo "Hello from $$(hostname): $$(. /etc/os-release; echo $$PRETTY_NAME), kernel $$(uname -r)"'

unit: build
	swift test $(SWIFT_FLAGS) --skip EndToEndTests

# Boots real VMs: needs `make image` (root, libvirtd running).
e2e: image build
	swift test $(SWIFT_FLAGS) --filter EndToEndTests

# Every test, unit and end-to-end.
test: image build
	swift test $(SWIFT_FLAGS)

# Boot benchmark (Markdown table on stdout): warm run vs plain QEMU, cold, install vs mkfs floor.
bench: image release
	scripts/bench.sh -n $${RUNS:-3}

# The binary and its shell completions (bash, zsh, fish).
install: release
	install -D -m 0755 .build/release/podman-bootc $(DESTDIR)$(PREFIX)/bin/podman-bootc
	mkdir -p $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	.build/release/podman-bootc --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/podman-bootc
	.build/release/podman-bootc --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_podman-bootc
	.build/release/podman-bootc --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/podman-bootc.fish

clean:
	swift package clean
