// `podman-bootc images`: the images in rootful podman storage that podman-bootc can boot.

import ArgumentParser
import BootcCore
import Foundation
import Installer

struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List images podman-bootc can boot: bootc images, and images with a kernel.",
        discussion: """
            Examples:
              podman-bootc images
              podman-bootc images --format json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "text or json.") var format: OutputFormat = .text

    struct Row: Codable {
        var names: [String]
        var id: String
        var kind: String
        var kernel: String?
        var size: UInt64
        var created: Date
    }

    func run() async throws {
        guard geteuid() == 0 else { throw VMError.requiresRoot }
        let context = CommandContext.live(options: global, quiet: true)
        var rows: [Row] = []
        let mounts = MountLedger(folder: context.locations.diskCache.appendingPathComponent(".mounts"), podman: context.podman)
        for image in try await context.podman.images() {
            // Looking inside costs a mount (~0.05 s); unnamed intermediate images are skipped.
            guard let names = image.names, !names.isEmpty else { continue }
            let kernel = try? await mounts.withMountedImage(image.id) { root in KernelLocator.locate(in: root)?.version }
            guard image.isBootc || kernel != nil else { continue }
            rows.append(Row(names: names, id: String(image.id.prefix(12)), kind: image.isBootc ? "bootc" : "kernel",
                            kernel: kernel ?? nil, size: image.size ?? 0,
                            created: Date(timeIntervalSince1970: TimeInterval(image.created ?? 0))))
        }
        switch format {
        case .json:
            print(try OutputFormat.json(rows))
        case .text:
            var table = [["IMAGE", "ID", "KIND", "KERNEL", "SIZE"]]
            for row in rows {
                table.append([row.names.joined(separator: ","), row.id, row.kind, row.kernel ?? "-", ByteSize.mebibytes(row.size >> 20).description])
            }
            print(Table.render(table), terminator: "")
        }
    }
}
