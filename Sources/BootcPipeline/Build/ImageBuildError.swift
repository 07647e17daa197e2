// Why an image could not be built (or was not what its definition declares).

import BootcCore
import Invariance

enum ImageBuildError: ToolError {
    case invalidReference(String)
    /// A target whose bytes are not UTF-8 (a folder named in Latin-1): podman build and the
    /// image tag are text, so it cannot be built under that name.
    case notUTF8(String)
    case noContainerfile(folder: String)
    case labelMismatch(image: String, declared: String, labelled: String?)
    case unitError(String)

    var exitCode: Int32 {
        switch self {
        case .invalidReference, .notUTF8: ExitStatus.usage
        case .noContainerfile: ExitStatus.notFound
        case .unitError: ExitStatus.usage
        case .labelMismatch: ExitStatus.toolFailure
        }
    }

    var description: String {
        switch self {
        case .invalidReference(let reference):
            return "\(reference.debugDescription) is not an image reference ([registry/]name[:tag][@digest], lower-case name), an images.yml image, a folder with a Containerfile or a .build unit; check the spelling with `podman images`"
        case .notUTF8(let target):
            return "\(target.debugDescription) is not UTF-8 (\u{FFFD} stands where its bytes are not); podman build and image tags need UTF-8 text: rename the folder, or point a link with a UTF-8 name at it (`podman-bootc invariance hash` reads such names as they are)"
        case .noContainerfile(let folder):
            return "\(folder) has no Containerfile or Dockerfile, and no kernel (it is not a root filesystem either); put a Containerfile there, or name an image instead"
        case .labelMismatch(let image, let declared, let labelled):
            return "built \(image), but its \(RebuildDecision.label) label is \(labelled.map { "\"\($0)\"" } ?? "missing"), not the declared \(declared): "
                + "the Containerfile must say `ARG INVARIANCE_HASH` and `LABEL \(RebuildDecision.label)=\"${INVARIANCE_HASH}\"`, "
                + "and the unit must pass --build-arg INVARIANCE_HASH=${INVARIANCE_HASH}"
        case .unitError(let message):
            return message
        }
    }
}

