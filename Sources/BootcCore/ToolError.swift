// The error every module's error type conforms to, so the CLI can print one line and pick an exit code.

/// An error whose message a user can act on: what went wrong and what to do about it.
public protocol ToolError: Error, CustomStringConvertible {
    /// The process exit code the CLI uses for this error.
    var exitCode: Int32 { get }
}

extension ToolError {
    public var exitCode: Int32 { ExitStatus.toolFailure }
}

/// The exit codes podman-bootc itself uses; any other status is the guest command's own.
public enum ExitStatus {
    /// Bad flags or arguments (swift-argument-parser's EX_USAGE).
    public static let usage: Int32 = 64
    /// podman-bootc failed before the guest command could report a status (like `podman run`).
    public static let toolFailure: Int32 = 125
    /// The VM stopped or never answered SSH, so the command could not run in it (like
    /// `podman run`'s 126: the command cannot be invoked).
    public static let vmFailure: Int32 = 126
    /// The image or VM named does not exist (like `podman run`'s 127: not found).
    public static let notFound: Int32 = 127
    /// A guest command's status as this process's exit code: 0...255 as it is; anything else
    /// a guest (or its SSH server, or an agent) may claim is 255, never one that wraps to 0.
    public static func guestCommand(_ status: Int32) -> Int32 {
        (0...255).contains(status) ? status : 255
    }

    /// `run --timeout` expired (like timeout(1)).
    public static let timeout: Int32 = 124
    /// Interrupted by SIGINT.
    public static let interrupted: Int32 = 130
}
