// `dev`'s rules: which image changes a running VM can take live (files over SFTP, then
// systemd reloaded and the affected units restarted), and which only a boot applies (then
// the VM reboots into a fresh install of the new image). `dev --explain` prints them.

import BootcCore
import Foundation
import Installer

/// What one edit does to the running VM.
package struct LiveUpdatePlan: Sendable, Equatable {
    /// Why only a boot applies the edit (empty: it applies live).
    package var rebootReasons: [String] = []
    package var operations: [GuestFileOperation] = []
    package var reloadSystemd = false
    /// Units whose files were removed.
    package var stop: [String] = []
    /// Units whose unit files or executables changed: restarted if running.
    package var tryRestart: [String] = []
    /// Units the user named (--restart): restarted always.
    package var restart: [String] = []
    /// Units newly enabled (a link added in a target's wants folder): started.
    package var start: [String] = []

    package var reboots: Bool { !rebootReasons.isEmpty }

    /// The guest command that makes systemd see the new files, nil when none is needed.
    /// Unit names are checked (UnitPath.isUnitName) and quoted one by one.
    package var systemdCommand: String? {
        var steps: [[String]] = []
        if reloadSystemd { steps.append(["systemctl", "daemon-reload"]) }
        if !stop.isEmpty { steps.append(["systemctl", "stop", "--"] + stop) }
        if !tryRestart.isEmpty { steps.append(["systemctl", "try-restart", "--"] + tryRestart) }
        if !restart.isEmpty { steps.append(["systemctl", "restart", "--"] + restart) }
        if !start.isEmpty { steps.append(["systemctl", "start", "--"] + start) }
        guard !steps.isEmpty else { return nil }
        return steps.map { RemoteCommand.commandLine(for: $0) }.joined(separator: " && ")
    }
}

package struct LiveUpdateRules: Sendable {
    /// --restart UNIT: restarted after every live update.
    package var restartUnits: [String]
    /// --reboot-on GLOB: changes that reboot besides the built-in ones.
    package var rebootGlobs: [String]

    package init(restartUnits: [String] = [], rebootGlobs: [String] = []) {
        self.restartUnits = restartUnits
        self.rebootGlobs = rebootGlobs
    }

    /// A systemd unit name (for --restart).
    package static func isUnitName(_ name: String) -> Bool { UnitPath.isUnitName(name) }

    /// What only a boot applies, with the reason shown to the user.
    static let bootOnly: [(glob: String, reason: String)] = [
        ("/boot/**", "the kernel and initramfs are loaded at boot"),
        ("/usr/lib/modules/**", "the kernel, its modules and the initramfs are loaded at boot"),
        ("/lib/modules/**", "the kernel, its modules and the initramfs are loaded at boot"),
        ("/usr/lib/bootc/kargs.d/**", "kernel arguments take effect at boot"),
        ("/etc/kernel/cmdline", "kernel arguments take effect at boot"),
        ("/etc/fstab", "file systems are mounted at boot"),
        ("/etc/initramfs-tools/**", "the initramfs is made at install and loaded at boot"),
        ("/etc/dracut.conf", "the initramfs is made at install and loaded at boot"),
        ("/etc/dracut.conf.d/**", "the initramfs is made at install and loaded at boot"),
        ("/usr/lib/dracut/**", "the initramfs is made at install and loaded at boot"),
        ("/usr/lib/systemd/system-generators/**", "generators shape the boot transaction"),
        ("/lib/systemd/system-generators/**", "generators shape the boot transaction"),
        ("/etc/systemd/system-generators/**", "generators shape the boot transaction"),
        ("/usr/lib/systemd/systemd", "systemd itself (PID 1) is started at boot"),
        ("/lib/systemd/systemd", "systemd itself (PID 1) is started at boot"),
        ("/usr/lib/systemd/libsystemd-shared-*", "systemd itself (PID 1) is started at boot"),
        ("/usr/lib/*/systemd/libsystemd-shared-*", "systemd itself (PID 1) is started at boot"),
        ("/etc/systemd/system.conf", "systemd's own settings are read at boot"),
        ("/etc/systemd/system.conf.d/**", "systemd's own settings are read at boot"),
        ("/usr/lib/systemd/system.conf.d/**", "systemd's own settings are read at boot"),
        ("/etc/systemd/system/sysinit.target.wants/**", "early-boot units run before the system is up"),
        ("/usr/lib/systemd/system/sysinit.target.wants/**", "early-boot units run before the system is up"),
        ("/lib/systemd/system/sysinit.target.wants/**", "early-boot units run before the system is up"),
    ]

    /// The rules as `dev --explain` prints them.
    package var explanation: String {
        var lines = [
            "podman-bootc dev applies each edit of the image to the running VM:",
            "",
            "Live (over SFTP, in a few seconds):",
            "  - files added, changed or removed anywhere else are written into the VM (owners, modes and",
            "    setuid bits as in the image; replaced files get a new inode, so running programs keep theirs);",
            "  - a change under a unit folder (/etc/systemd/system, /usr/lib/systemd/system, /lib/systemd/system)",
            "    runs `systemctl daemon-reload`;",
            "  - units whose unit file or drop-in changed, and units whose Exec*= program changed, are",
            "    restarted if running (`systemctl try-restart`); units newly linked into a target's .wants",
            "    are started; units whose files were removed are stopped;",
        ]
        lines.append(restartUnits.isEmpty
            ? "  - --restart UNIT names units restarted after every live update (none given)."
            : "  - restarted after every live update (--restart): \(restartUnits.joined(separator: ", ")).")
        lines += ["", "Reboot into a fresh install of the new image (what only a boot applies):"]
        var seen = Set<String>()
        for rule in Self.bootOnly where seen.insert(rule.glob).inserted {
            lines.append("  - \(rule.glob): \(rule.reason)")
        }
        lines.append("  - a unit file or drop-in with DefaultDependencies=no: early-boot units run before the system is up")
        for glob in rebootGlobs { lines.append("  - \(glob): named by --reboot-on") }
        lines += ["", "`run` never applies edits live: it always boots what it tests."]
        return lines.joined(separator: "\n")
    }

    /// The plan for `changes`.
    package func plan(_ changes: ImageChangeSet) -> LiveUpdatePlan {
        var plan = LiveUpdatePlan()
        for change in changes.changes {
            if let reason = rebootReason(change.path) { plan.rebootReasons.append("\(change.path): \(reason)") }
        }
        for unit in changes.earlyBootUnits { plan.rebootReasons.append("\(unit): early-boot units run before the system is up") }
        guard plan.rebootReasons.isEmpty else { return plan }

        // Removals first (deepest paths last is fine: a removal takes the whole folder),
        // then additions and changes, parents before children.
        for change in changes.changes where change.kind == .removed { plan.operations.append(.remove(path: change.path)) }
        for change in changes.changes where change.kind != .removed {
            guard let entry = change.entry else { continue }
            switch entry.kind {
            case .directory: plan.operations.append(.folder(path: change.path, mode: entry.mode, uid: entry.uid, gid: entry.gid))
            case .symlink: plan.operations.append(.symlink(path: change.path, target: entry.linkTarget ?? ""))
            case .file:
                if let staged = change.staged {
                    plan.operations.append(.file(path: change.path, source: staged, mode: entry.mode, uid: entry.uid, gid: entry.gid))
                }
            case .other: continue  // devices, sockets, fifos: nothing an image should ship
            }
        }

        var stop = Set<String>(), tryRestart = Set<String>(), start = Set<String>()
        for change in changes.changes {
            if let unit = UnitPath.unit(of: change.path) {
                plan.reloadSystemd = true
                let isUnitFile = !change.path.contains(unit + ".d/")
                if change.kind == .removed && isUnitFile { stop.insert(unit) } else { tryRestart.insert(unit) }
            } else if let unit = UnitPath.wantedUnit(of: change.path) {
                plan.reloadSystemd = true
                if change.kind == .added { start.insert(unit) }
            } else if UnitPath.folders.contains(where: { change.path.hasPrefix($0 + "/") }) {
                plan.reloadSystemd = true
            }
        }
        for units in changes.unitsRunning.values { tryRestart.formUnion(units.filter(UnitPath.isUnitName)) }
        // Targets are not restarted; stopped units are not restarted.
        plan.stop = stop.sorted()
        plan.tryRestart = tryRestart.subtracting(stop).filter { !$0.hasSuffix(".target") }.sorted()
        plan.start = start.subtracting(stop).sorted()
        plan.restart = restartUnits.filter(UnitPath.isUnitName)
        return plan
    }

    /// Why only a boot applies a change at `path`, nil when it applies live.
    func rebootReason(_ path: String) -> String? {
        if let rule = Self.bootOnly.first(where: { Self.matches($0.glob, path) }) { return rule.reason }
        if rebootGlobs.contains(where: { Self.matches($0, path) }) { return "named by --reboot-on" }
        return nil
    }

    /// GLOB as fnmatch(3) reads it (`*` also crosses `/`); a trailing `/**` also matches the
    /// folder itself and everything below it.
    static func matches(_ glob: String, _ path: String) -> Bool {
        if glob.hasSuffix("/**") {
            let folder = String(glob.dropLast(3))
            if fnmatch(folder, path, 0) == 0 { return true }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            for end in stride(from: parts.count - 1, to: 0, by: -1) where fnmatch(folder, parts[..<end].joined(separator: "/"), 0) == 0 {
                return true
            }
            return false
        }
        return fnmatch(glob, path, 0) == 0
    }
}
