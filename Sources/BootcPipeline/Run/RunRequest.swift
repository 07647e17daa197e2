// What `run` and `run --dry-run` are asked for and answer.

import BootcCore
import Installer
import Invariance

/// What `run` is asked for, parsed and validated.
package struct RunRequest: Sendable {
    package var target: String
    /// --config: the images.yml for a target that names an image there.
    package var config: String?
    package var vm: VMOptions
    /// -B: return once SSH answers, without connecting.
    package var background = false
    /// The command to run instead of a shell.
    package var command: [String] = []
    package var ci: CIRun.Options

    package init(target: String, config: String?, vm: VMOptions, background: Bool, command: [String], ci: CIRun.Options) {
        self.target = target
        self.config = config
        self.vm = vm
        self.background = background
        self.command = command
        self.ci = ci
    }
}

/// What `run --dry-run` answers: the build decision, then the disk decision.
package struct DryRunReport: Encodable, Sendable {
    package var image: String
    package var build: RebuildDecision?
    package var key: String?
    package var installer: InstallerChoice?
    package var reuse: Bool
    package var reason: String
    package var disk: String?
}
