// Whose libvirt domain this is: podman-bootc finds a VM's domain by name, and a name can be
// taken by anyone who may define domains on that URI (a stale VM's name reused, another
// user's domain). The VM's id, written into the domain's metadata when podman-bootc defined
// it, says whether the domain is the record's.

import BootcCore
import Foundation

enum DomainOwnership {
    /// The podman-bootc id in a domain's `<podman-bootc:vm>` metadata element (as libvirt
    /// returns it, with or without the namespace prefix); nil when there is none.
    static func vmID(inMetadata metadata: String?) -> String? {
        guard let metadata,
              let match = metadata.firstMatch(of: /<(?:[A-Za-z0-9_.-]+:)?id>([^<]*)<\/(?:[A-Za-z0-9_.-]+:)?id>/)
        else { return nil }
        return String(match.1)
    }

    static func belongs(metadata: String?, to record: VMRecord) -> Bool {
        vmID(inMetadata: metadata) == record.id
    }

    /// The metadata's id, else (no metadata to be read: libvirt said nothing, or failed) the
    /// domain's UUID against the record's; an error reading the definition is an error, not
    /// a verdict.
    static func belongs(_ domain: any VirtualMachineDomain, to record: VMRecord) async throws -> Bool {
        let metadata = await domain.metadata()
        if metadata != nil { return belongs(metadata: metadata, to: record) }
        guard let uuid = record.uuid, !uuid.isEmpty else { return false }
        return try await domain.xmlDescription().contains("<uuid>\(uuid.lowercased())</uuid>")
    }
}
