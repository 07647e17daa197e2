// The images in podman storage (root's, or the user's rootless one) that podman-bootc can boot (`images`).

import BootcCore
import Foundation
import Installer

package struct BootableImage: Codable, Sendable, Equatable {
    package var names: [String]
    package var id: String
    /// "bootc" (labelled containers.bootc=1) or "kernel" (has a kernel podman-bootc can boot).
    package var kind: String
    package var kernel: String?
    package var size: UInt64
    package var created: Date
}

package struct ImageCatalog: Sendable {
    package let context: PipelineContext

    package init(context: PipelineContext) { self.context = context }

    package func bootableImages() async throws -> [BootableImage] {
        // Unnamed intermediate images are skipped; the rest are looked into at once (a mount
        // each, ~0.05 s; for a user, all inside one trip into the user namespace).
        let images = try await context.podman.images().filter { !($0.names ?? []).isEmpty }
        let facts = await facts(of: images.map(\.id))
        var rows: [BootableImage] = []
        for (index, image) in images.enumerated() {
            let kernel = facts[index]?.kernelVersion
            guard image.isBootc || kernel != nil else { continue }
            rows.append(BootableImage(names: image.names ?? [], id: String(image.id.prefix(12)), kind: image.isBootc ? "bootc" : "kernel",
                                      kernel: kernel, size: image.size ?? 0,
                                      created: Date(timeIntervalSince1970: TimeInterval(image.created ?? 0))))
        }
        return rows
    }

    /// Facts of every image; when one cannot be read (the batch fails with it), each alone,
    /// so one broken image hides only itself.
    private func facts(of ids: [String]) async -> [ImageTreeFacts?] {
        if let all = try? await context.imageTrees.facts(ids.map { .image(id: $0) }), all.count == ids.count { return all }
        var result: [ImageTreeFacts?] = []
        for id in ids { result.append(try? await context.imageTrees.facts([.image(id: id)]).first) }
        return result
    }
}
