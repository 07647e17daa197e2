// Files `dev` uploads get the labels the guest's SELinux policy gives their paths, through the
// guest's own restorecon (SFTP creates them with the label of the folder or none at all, and
// an enforcing guest then denies its services their own files).

import BootcCore
import Foundation
import Logging

enum GuestSELinuxLabels {
    /// Fixed text; the paths arrive as arguments. Nothing to do without restorecon or with
    /// SELinux disabled.
    static let script = """
        command -v restorecon >/dev/null 2>&1 || exit 0
        [ -e /sys/fs/selinux/enforce ] || exit 0
        restorecon -F -- "$@"
        """

    /// Relabels `paths` (absolute guest paths) in batches; a failure is a warning: the files
    /// are in place, only their labels may be wrong.
    static func restore(_ paths: [String], over session: any GuestSession, logger: Logger, progress: ProgressReporter) async throws {
        for batch in stride(from: 0, to: paths.count, by: 256).map({ Array(paths[$0..<min($0 + 256, paths.count)]) }) {
            let result = try await session.run(RemoteCommand.commandLine(for: ["sh", "-c", script, "sh"] + batch), input: Data())
            if result.status != 0 {
                progress.notice("warning: restorecon in the guest exited with \(result.status): "
                    + result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").prefix(3).joined(separator: "; "))
            }
        }
        logger.debug("dev: restorecon over \(paths.count) paths")
    }
}
