// `invariance check`: the build decision for an image, without building.

import BootcCore
import Foundation
import Invariance
import Podman

package struct RebuildReport: Encodable, Sendable {
    package var image: String
    package var imageExists: Bool
    package var definition: String?
    package var decision: RebuildDecision
}

extension RunSequence {
    /// Whether `target` would be built, and why.
    package func rebuildReport(_ target: String) async throws -> RebuildReport {
        let plan = try await ImageBuilder(context: context).plan(try await ImageSource.resolving(target))
        if let decision = plan.decision {
            return RebuildReport(image: plan.reference, imageExists: plan.imageExists, definition: plan.definition?.path, decision: decision)
        }
        // No unit, no folder: nothing to build from; the image is used as it is.
        let existing = try await context.podman.inspect(plan.reference)
        let unit = QuadletNaming.unitFileName(forImage: plan.reference)
        let decision = RebuildDecision(
            build: false,
            reason: existing == nil ? "the image does not exist and there is no \(unit) unit to build it from"
                : "there is no \(unit) unit: the image is used as it is",
            declaredHash: nil, imageHash: existing?.labels?[RebuildDecision.label])
        return RebuildReport(image: plan.reference, imageExists: existing != nil, definition: plan.definition?.path, decision: decision)
    }
}
