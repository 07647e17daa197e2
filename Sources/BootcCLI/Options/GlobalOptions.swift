// Options every command accepts, and the pipeline context they give.

import ArgumentParser
import BootcCore
import BootcPipeline
import Logging

struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("connect"), help: "libvirt URI: qemu:///system, qemu:///session, or another host's qemu+ssh://USER@HOST/system (default: $LIBVIRT_DEFAULT_URI, else qemu:///system for root, qemu:///session otherwise).")
    var libvirtURI: String?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: Logger.Level = .warning

    @Flag(help: "Log what podman-bootc does (every program it runs, every libvirt call): --log-level debug.")
    var debug = false

    /// A remote URI podman-bootc cannot reach guests through fails here, before any work.
    func validate() throws {
        guard let libvirtURI else { return }
        guard !libvirtURI.isEmpty, !libvirtURI.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw ValidationError("--connect \(libvirtURI.debugDescription) is not a libvirt URI; for example qemu:///system or qemu+ssh://USER@HOST/system")
        }
        do { _ = try RemoteLibvirtURI.parse(libvirtURI) } catch let error as RemoteURIError {
            throw ValidationError(error.description)
        }
    }

    /// The live context: libvirt, libssh2, podman, the state folders.
    func context(quiet: Bool, consoleStreams: Bool = false) -> PipelineContext {
        .live(logLevel: debug ? .debug : logLevel, quiet: quiet, consoleStreams: consoleStreams)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A command that works through the pipeline: `run()` builds the live context, tests call
/// `run(_:)` with fakes.
protocol PipelineCommand: AsyncParsableCommand {
    var global: GlobalOptions { get }
    /// The live context for this command (its quiet flag, console streams).
    func liveContext() -> PipelineContext
    func run(_ context: PipelineContext) async throws
}

extension PipelineCommand {
    func liveContext() -> PipelineContext { global.context(quiet: true) }

    func run() async throws {
        try await run(liveContext())
    }
}
