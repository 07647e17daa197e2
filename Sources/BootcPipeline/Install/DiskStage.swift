// The install stage: the resolved image (from podman storage or a root filesystem folder)
// becomes an install request, then an installed (or cached) disk.

import BootcCore
import Foundation
import Installer
import Podman

struct DiskStage: Sendable {
    let context: PipelineContext

    /// The install inputs: the image inspected in podman storage, or the root filesystem folder.
    func request(for image: ImageToInstall, choices: DiskChoices) async throws -> InstallRequest {
        switch image {
        case .reference(let reference):
            return try choices.request(reference: reference, image: try await context.findImage(reference, architecture: choices.architecture))
        case .rootFilesystem(let folder):
            let inspection = try await Blocking.run { try RootFilesystem.inspect(folder) }
            var request = try choices.request(reference: folder.path, image: inspection)
            request.rootFilesystem = folder
            return request
        }
    }

    /// What `run` would do with the disk, without doing it: nothing is pulled, copied,
    /// mounted or written (an image missing here is reported as what `run` would fetch).
    func plan(_ image: ImageToInstall, choices: DiskChoices) async throws -> CachePlan {
        if case .reference(let reference) = image, try await context.podman.inspect(reference) == nil {
            // Where `run` would get it from, asked read-only; nowhere is the error `run` gives.
            let fetch: String
            if let user = PodmanEndpoint.sudoUserStorage(environment: context.environment),
               (try? await Podman(runner: context.runner, endpoint: user).inspect(reference)) != nil {
                fetch = "copy it from \(user)"
            } else if Podman.namesRegistry(reference) {
                fetch = "pull it"
            } else {
                throw PodmanError.imageNotFound(reference: reference, pullError: nil)
            }
            return CachePlan(key: "", installer: choices.installer, reuse: false,
                             reason: "\(reference) is not in \(context.podman.endpoint): run would \(fetch), then install its disk", disk: nil)
        }
        return try await context.disks.plan(try await request(for: image, choices: choices), connection: choices.connection)
    }

    /// Installs (or finds cached) the disk for `request`. An interrupt mid-install must not
    /// leave the image mounted (only this process's own mounts are undone); the partial disk folder is removed by the next run (its
    /// owner's PID is in its name).
    func install(_ request: InstallRequest, choices: DiskChoices) async throws -> CacheManifest {
        let podman = context.podman
        let imageID = request.image.id
        return try await InterruptCleanup.shared.guarding({ await podman.unmountHeldMounts(of: imageID) }) {
            try await context.disks.install(request, connection: choices.connection, progress: context.progress)
        }
    }
}
