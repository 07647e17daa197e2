// The one way commands print data on stdout: a text table for people, or JSON for programs.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json
}

/// Something a command prints as one answer: its JSON is the value itself; its text, lines.
protocol TextLines: Encodable {
    var lines: [String] { get }
}

/// Something a list command prints: its JSON is the value itself; its table has these rows.
protocol TableRows: Encodable {
    static var header: [String] { get }
    var rows: [[String]] { get }
}

enum Renderer {
    /// `items` as a table (header, then each item's rows) or as a JSON array.
    static func render<Item: TableRows>(_ items: [Item], as format: OutputFormat) throws -> String {
        switch format {
        case .json: return try JSONText.render(items) + "\n"
        case .text: return Table.render([Item.header] + items.flatMap(\.rows))
        }
    }

    /// One answer as its text lines or as JSON (run --dry-run, invariance check).
    static func render(_ answer: some TextLines, as format: OutputFormat) throws -> String {
        switch format {
        case .json: return try json(answer)
        case .text: return answer.lines.map { $0 + "\n" }.joined()
        }
    }

    /// One value as JSON (inspect, reports).
    static func json<T: Encodable>(_ value: T) throws -> String {
        try JSONText.render(value) + "\n"
    }
}

/// ISO 8601, as JSON has it.
private func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601)
}

extension VMView: TableRows {
    static let header = ["ID", "NAME", "IMAGE", "STATUS", "SSH", "ARCH", "NETWORK", "CPUS", "MEMORY", "DISK", "CREATED"]
    var rows: [[String]] {
        // A VM `dev` changed live names the image build it now matches.
        let shown = liveImageID.map { "\(image) (live: \($0.prefix(12))\(liveUsr == nil ? "" : ", /usr until reboot"))" } ?? image
        // Shared folders show with the network: "user+2 folders".
        let folders = sharedFolders.map { $0.isEmpty ? "" : "+\($0.count) folder\($0.count == 1 ? "" : "s")" } ?? ""
        return [[id, name, shown, status.rawValue, ssh, architecture.rawValue, network.rawValue + folders, String(cpus),
                 "\(memoryMiB)M", "\(diskBytes >> 20)M", timestamp(created)]]
    }
}

extension CacheEntryView: TableRows {
    static let header = ["KEY", "IMAGE", "INSTALLER", "DISK", "ON DISK", "CREATED", "USED BY"]
    var rows: [[String]] {
        [[String(key.prefix(12)), image, installer.rawValue, ByteSize(bytes: diskSize).description,
          ByteSize.mebibytes(allocatedBytes >> 20).description, timestamp(created), Self.list(usedBy)]]
            + warmStates.map { state in
                ["  warm " + state.key.prefix(7), "running state: \(state.cpus) CPUs, \(state.memoryMiB)M, \(state.user)",
                 state.accelerator.rawValue, "-", ByteSize.mebibytes(state.allocatedBytes >> 20).description,
                 timestamp(state.created), Self.list(state.usedBy)]
            }
    }

    private static func list(_ names: [String]) -> String { names.isEmpty ? "-" : names.joined(separator: ",") }
}

extension BootableImage: TableRows {
    static let header = ["IMAGE", "ID", "KIND", "KERNEL", "SIZE"]
    var rows: [[String]] {
        [[names.joined(separator: ","), id, kind, kernel ?? "-", ByteSize.mebibytes(size >> 20).description]]
    }
}

extension DryRunReport: TextLines {
    var lines: [String] {
        (build.map { ["\($0.build ? "build" : "use") \(image): \($0.reason)"] } ?? [])
            + ["\(reuse ? "reuse" : "install")\(installer.map { " (\($0.rawValue))" } ?? ""): \(reason)"]
    }
}

extension RebuildReport: TextLines {
    var lines: [String] {
        ["\(decision.build ? "build" : imageExists ? "use" : "missing") \(image): \(decision.reason)"]
    }
}
