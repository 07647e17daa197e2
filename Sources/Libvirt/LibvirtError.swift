// libvirt failures, read from libvirt's thread-local last error right after the failing call.

import BootcCore
internal import CLibvirt

public struct LibvirtError: ToolError {
    public var operation: String
    public var message: String
    public var code: Int32

    public var description: String { "libvirt: \(operation) failed: \(message)" }

    /// Builds the error from virGetLastError(); call on the thread of the failing call.
    /// `operation` is evaluated only after the error is read: every libvirt call (even
    /// virDomainGetName for the message) resets the thread's last error.
    static func last(_ operation: @autoclosure () -> String) -> LibvirtError {
        guard let error = virGetLastError() else {
            return LibvirtError(operation: operation(), message: "unknown error", code: -1)
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        let code = error.pointee.code
        virResetLastError()
        return LibvirtError(operation: operation(), message: message, code: code)
    }

    public var isNoDomain: Bool { code == Int32(VIR_ERR_NO_DOMAIN.rawValue) }
    var isUnsupported: Bool { code == Int32(VIR_ERR_INVALID_ARG.rawValue) || code == Int32(VIR_ERR_NO_SUPPORT.rawValue) }
}

/// libvirt prints every error to stderr unless an error handler is set; ours stays silent
/// because each failure is reported once, as a thrown LibvirtError.
enum LibvirtLibrary {
    static let silenced: Void = {
        virSetErrorFunc(nil) { _, _ in }
    }()
}
