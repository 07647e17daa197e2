// Finds the VM a command names: a name, a unique ID prefix, or the latest one.

import BootcCore
import Foundation
import Host

package enum VMLookupError: ToolError {
    case notFound(String)
    case ambiguous(String, matches: [String])
    case noVMs

    package var exitCode: Int32 {
        switch self {
        case .notFound, .noVMs: ExitStatus.notFound
        case .ambiguous: ExitStatus.usage
        }
    }

    package var description: String {
        switch self {
        case .notFound(let query):
            if query.count < VMResolver.minimumPrefix {
                return "no VM named \(query.debugDescription) (an ID prefix needs at least \(VMResolver.minimumPrefix) characters); see `podman-bootc list -a`"
            }
            return "no VM named \(query.debugDescription) or with an ID starting with it; see `podman-bootc list -a`"
        case .ambiguous(let query, let matches):
            return "\(query) matches several VMs (\(matches.joined(separator: ", "))); give more of the ID or the full name"
        case .noVMs:
            return "there are no VMs; create one with `podman-bootc run IMAGE`"
        }
    }
}

/// Which VM a command names: a name or unique ID prefix, or the latest one.
package enum VMSelector: Sendable, Equatable {
    case named(String)
    case latest
}

struct VMResolver {
    let store: VMStore

    func record(_ selector: VMSelector) throws -> VMRecord {
        switch selector {
        case .named(let query): try resolve(query)
        case .latest: try latest()
        }
    }

    /// The shortest ID prefix taken: "" or "a" must never pick a VM to remove.
    static let minimumPrefix = 3

    /// A full name wins over an ID prefix; a prefix (at least `minimumPrefix` characters)
    /// must match exactly one VM.
    func resolve(_ query: String) throws -> VMRecord {
        guard !query.isEmpty, !query.contains("\0") else { throw VMLookupError.notFound(query) }
        let all = store.all()
        if let byName = all.first(where: { $0.name == query }) { return byName }
        guard query.count >= Self.minimumPrefix else { throw VMLookupError.notFound(query) }
        let byID = all.filter { $0.id.hasPrefix(query.lowercased()) }
        switch byID.count {
        case 1: return byID[0]
        case 0: throw VMLookupError.notFound(query)
        default: throw VMLookupError.ambiguous(query, matches: byID.map { "\($0.name) (\($0.id))" })
        }
    }

    func latest() throws -> VMRecord {
        guard let last = store.all().max(by: { $0.created < $1.created }) else { throw VMLookupError.noVMs }
        return last
    }
}

