// How an image is built when podman-bootc knows (a quadlet unit, a folder, an images.yml
// image), and the build decision about it.

import BootcCore
import Foundation
import Invariance
import Layers
import Podman

/// How an image is built, when podman-bootc knows: a quadlet unit, or a folder whose hash
/// podman-bootc computes itself.
enum BuildDefinition: Sendable {
    case unit(QuadletBuild)
    case folder(URL, hash: String, tag: String)
    /// A generated image: built with its base images of the same project, bases first.
    case layers(project: Project, image: String, hash: String, tag: String)

    var imageTag: String {
        switch self {
        case .unit(let unit): unit.imageTag
        case .folder(_, _, let tag): tag
        case .layers(_, _, _, let tag): tag
        }
    }

    var declaredHash: String? {
        switch self {
        case .unit(let unit): unit.declaredHash
        case .folder(_, let hash, _): hash
        case .layers(_, _, let hash, _): hash
        }
    }

    var path: String {
        switch self {
        case .unit(let unit): unit.path
        case .folder(let folder, _, _): folder.path
        case .layers(let project, let image, _, _): project.images.path + " (image \(image))"
        }
    }
}

/// An image to boot and, when it has a build definition, podrun's decision about it.
struct ImagePlan {
    var image: ImageToInstall
    var reference: String { image.name }
    var definition: BuildDefinition?
    var decision: RebuildDecision?
    var imageExists = false
}

