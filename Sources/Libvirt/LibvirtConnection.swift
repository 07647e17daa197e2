// A connection to a libvirt daemon through the C API; owns the virConnectPtr.

import BootcCore
import Foundation
internal import CLibvirt

// Sendable: the virConnectPtr is immutable and libvirt connections may be used from any thread
// (libvirt locks them itself); errors are read on the calling thread, right after each call.
public final class LibvirtConnection: @unchecked Sendable {
    // libvirt connections are thread-safe; the pointer never leaves this module.
    let pointer: virConnectPtr
    public let uri: String

    /// Opens `uri`: the explicit one, else LIBVIRT_DEFAULT_URI, else qemu:///system for root
    /// and qemu:///session for other users.
    public init(uri explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        _ = LibvirtLibrary.silenced
        let uri = Self.resolveURI(explicit: explicit, environment: environment, isRoot: geteuid() == 0)
        guard let pointer = virConnectOpen(uri) else {
            let error = LibvirtError.last("connect to \(uri)")
            throw LibvirtConnectionError(uri: uri, reason: error.message)
        }
        self.pointer = pointer
        self.uri = uri
    }

    static func resolveURI(explicit: String?, environment: [String: String], isRoot: Bool) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnvironment = environment["LIBVIRT_DEFAULT_URI"], !fromEnvironment.isEmpty { return fromEnvironment }
        return isRoot ? "qemu:///system" : "qemu:///session"
    }

    deinit { virConnectClose(pointer) }

    /// Defines a persistent domain from XML (not started).
    public func define(xml: String) throws -> LibvirtDomain {
        guard let domain = virDomainDefineXML(pointer, xml) else { throw LibvirtError.last("define domain") }
        return LibvirtDomain(pointer: domain, connection: self)
    }

    /// Starts a transient domain. With `autoDestroy`, libvirt destroys it when this
    /// connection closes, including when this process is killed, so a `--rm` VM never outlives us.
    public func createTransient(xml: String, autoDestroy: Bool) throws -> LibvirtDomain {
        let flags = autoDestroy ? VIR_DOMAIN_START_AUTODESTROY.rawValue : 0
        guard let domain = virDomainCreateXML(pointer, xml, flags) else { throw LibvirtError.last("start domain") }
        return LibvirtDomain(pointer: domain, connection: self)
    }

    /// The domain called `name`, or nil when there is none.
    public func domain(named name: String) throws -> LibvirtDomain? {
        guard let domain = virDomainLookupByName(pointer, name) else {
            let error = LibvirtError.last("look up domain \(name)")
            if error.isNoDomain { return nil }
            throw error
        }
        return LibvirtDomain(pointer: domain, connection: self)
    }

    /// Whether the daemon's QEMU can run `architecture` guests with `virtType` (kvm, qemu) on
    /// its host: libvirt's domain capabilities, which fail for an accelerator it cannot use.
    public func supports(architecture: String, virtType: String) -> Bool {
        guard let xml = virConnectGetDomainCapabilities(pointer, nil, architecture, nil, virtType, 0) else {
            virResetLastError()
            return false
        }
        free(xml)
        return true
    }

    /// Every domain, running or not.
    public func allDomains() throws -> [LibvirtDomain] {
        var list: UnsafeMutablePointer<virDomainPtr?>?
        let count = virConnectListAllDomains(pointer, &list, 0)
        guard count >= 0, let list else { throw LibvirtError.last("list domains") }
        defer { free(list) }
        return (0..<Int(count)).compactMap { index in
            list[index].map { LibvirtDomain(pointer: $0, connection: self) }
        }
    }
}

public struct LibvirtConnectionError: ToolError {
    public var uri: String
    public var reason: String

    public var description: String {
        if uri.hasPrefix("qemu:///session") {
            // libvirt starts the session daemon itself; what it needs is the program and a
            // folder for its socket ($XDG_RUNTIME_DIR/libvirt, else ~/.cache/libvirt).
            return "cannot connect to libvirt at \(uri): \(reason). libvirt starts a session daemon for you: "
                + "check that libvirtd is installed (sudo scripts/setup.sh installs it) and that $XDG_RUNTIME_DIR, or ~/.cache "
                + "when it is unset, is yours and writable (a login session sets XDG_RUNTIME_DIR; `sudo loginctl enable-linger $USER` keeps one); "
                + "or use the system daemon with sudo"
        }
        return "cannot connect to libvirt at \(uri): \(reason). Start libvirtd (sudo scripts/setup.sh does) or choose another URI with --connect"
    }
}
