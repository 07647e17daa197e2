// A libvirt domain handle; owns the virDomainPtr.

import BootcCore
import Foundation
internal import CLibvirt

public enum DomainState: String, Sendable, Codable {
    case running, paused, shutdown, stopped, crashed, suspended, unknown
}

public final class LibvirtDomain: @unchecked Sendable {
    let pointer: virDomainPtr
    // Keeps the connection open as long as a domain handle needs it.
    let connection: LibvirtConnection

    init(pointer: virDomainPtr, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit { virDomainFree(pointer) }

    public var name: String {
        virDomainGetName(pointer).map { String(cString: $0) } ?? ""
    }

    public func start() throws {
        guard virDomainCreate(pointer) == 0 else { throw LibvirtError.last("start domain \(name)") }
    }

    public func state() throws -> DomainState {
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(pointer, &state, &reason, 0) == 0 else { throw LibvirtError.last("read state of \(name)") }
        switch UInt32(state) {
        case VIR_DOMAIN_RUNNING.rawValue: return .running
        case VIR_DOMAIN_BLOCKED.rawValue: return .running
        case VIR_DOMAIN_PAUSED.rawValue: return .paused
        case VIR_DOMAIN_SHUTDOWN.rawValue: return .shutdown
        case VIR_DOMAIN_SHUTOFF.rawValue: return .stopped
        case VIR_DOMAIN_CRASHED.rawValue: return .crashed
        case VIR_DOMAIN_PMSUSPENDED.rawValue: return .suspended
        default: return .unknown
        }
    }

    public var isActive: Bool { virDomainIsActive(pointer) == 1 }
    public var isPersistent: Bool { virDomainIsPersistent(pointer) == 1 }

    /// Asks the guest to shut down (ACPI power button); returns at once.
    public func shutdown() throws {
        guard virDomainShutdown(pointer) == 0 else { throw LibvirtError.last("shut down domain \(name)") }
    }

    /// Powers the domain off at once.
    public func destroy() throws {
        guard virDomainDestroy(pointer) == 0 else { throw LibvirtError.last("destroy domain \(name)") }
    }

    /// Removes the definition, with its NVRAM (UEFI domains) and managed save image; drivers
    /// without those (libvirt's test driver) get a plain undefine.
    public func undefine() throws {
        let flags = VIR_DOMAIN_UNDEFINE_NVRAM.rawValue | VIR_DOMAIN_UNDEFINE_MANAGED_SAVE.rawValue
        if virDomainUndefineFlags(pointer, flags) == 0 { return }
        let error = LibvirtError.last("undefine domain \(name)")
        guard error.isUnsupported, virDomainUndefine(pointer) == 0 else { throw error }
    }

    public func xmlDescription() throws -> String {
        guard let xml = virDomainGetXMLDesc(pointer, 0) else { throw LibvirtError.last("read XML of \(name)") }
        defer { free(xml) }
        return String(cString: xml)
    }

    /// Our metadata element (see DomainSpec.metadataNamespace), or nil when the domain has none.
    /// libvirt returns it without a namespace prefix: `<vm><id>...</id></vm>`.
    public func podmanBootcMetadata() -> String? {
        guard let xml = virDomainGetMetadata(pointer, Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue),
                                             DomainSpec.metadataNamespace, 0) else {
            virResetLastError()
            return nil
        }
        defer { free(xml) }
        return String(cString: xml)
    }

    /// One QEMU guest agent (qemu-ga) command, as JSON, answered as JSON within `timeoutSeconds`
    /// (libvirt's channel to `org.qemu.guest_agent.0`). Blocking.
    public func guestAgentCommand(_ json: String, timeoutSeconds: Int32) throws -> String {
        guard let reply = virDomainQemuAgentCommand(pointer, json, timeoutSeconds, 0) else {
            throw LibvirtError.last("guest agent command for \(name)")
        }
        defer { free(reply) }
        return String(cString: reply)
    }

    /// Stops and removes the domain, whatever state it is in; a domain already gone is fine.
    public func remove() throws {
        if isActive {
            do { try destroy() } catch let error as LibvirtError where !isActive { _ = error }
        }
        if isPersistent { try undefine() }
    }
}
