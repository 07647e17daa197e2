// Options every command accepts.

import ArgumentParser
import Logging

struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("connect"), help: "libvirt URI (default: $LIBVIRT_DEFAULT_URI, else qemu:///system for root, qemu:///session otherwise).")
    var libvirtURI: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: Logger.Level = .warning

    @Flag(help: "Log what podman-bootc does (every program it runs, every libvirt call): --log-level debug.")
    var debug = false
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
