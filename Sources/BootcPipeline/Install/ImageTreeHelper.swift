// The hidden `image-tree` command's work: run by a rootless podman-bootc inside the user's
// namespace (`podman unshare`), where the user's image storage can be mounted.

import Foundation
import Host
import Installer
import Logging
import Podman

package enum ImageTreeHelper {
    package static let commandName = "image-tree"

    /// Answers one request read from `input` (JSON) with JSON: the images are mounted here.
    package static func serve(_ input: Data, logger: Logger) async throws -> Data {
        let request: ImageTreeRequest
        do {
            request = try JSONDecoder().decode(ImageTreeRequest.self, from: input)
        } catch {
            throw ImageTreeError(message: "\(commandName) is podman-bootc's own helper; it reads a JSON request on stdin (\(error.localizedDescription))")
        }
        let runner = SubprocessRunner(logger: logger)
        let trees = MountedImageTrees(podman: Podman(runner: runner), runner: runner,
                                      ledger: URL(fileURLWithPath: request.ledger), logger: logger)
        return try await request.serve(with: trees)
    }
}
