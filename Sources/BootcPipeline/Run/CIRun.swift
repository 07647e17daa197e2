// What `run` adds for CI: per-stage timings, a deadline that destroys the VM and exits 124,
// artifacts and logs copied out of the guest, and the JSON / JUnit reports.

import BootcCore
import Foundation
import Host
import Synchronization

/// The CI outputs of one run: stage timings, artifacts and logs copied out of the guest, the
/// JUnit report and the JSON summary.
// Sendable: its options are immutable; the attached VM is guarded by `lock`, the collected
// files by a Mutex.
package final class CIRun: @unchecked Sendable {
    package struct Options: Sendable {
        var image: String
        var command: [String]
        var timeout: Duration?
        var artifacts: [ArtifactSpec]
        var logsFolder: URL?
        var reportFile: URL?
        var jsonSummary: Bool

        package init(image: String, command: [String], timeout: Duration?, artifacts: [ArtifactSpec],
                     logsFolder: URL?, reportFile: URL?, jsonSummary: Bool) {
            self.image = image
            self.command = command
            self.timeout = timeout
            self.artifacts = artifacts
            self.logsFolder = logsFolder
            self.reportFile = reportFile
            self.jsonSummary = jsonSummary
        }
    }

    let options: Options
    let output: StandardOutput
    let timer = StageTimer()
    struct AttachedVM: Sendable {
        var record: VMRecord
        var domain: any VirtualMachineDomain
        var store: VMStore
        var consoleLog: URL
        var remoteStorage: (any HostStoragePool)?
    }
    // Guarded by `lock`: written by the run, read when a deadline ends it.
    private let lock = NSLock()
    private var attachedVM: AttachedVM?
    private let collected = Mutex<(artifacts: [String], logs: [String])>(([], []))

    init(options: Options, output: StandardOutput) {
        self.options = options
        self.output = output
    }

    func attach(_ attached: AttachedVM) {
        lock.withLock { attachedVM = attached }
    }

    var currentVM: AttachedVM? { lock.withLock { attachedVM } }

    /// Copies the artifacts and logs out of a VM whose command has ended (passed or not).
    /// Failures to copy are reported, never fatal: the command's status is what counts.
    func collect(from session: any GuestSession, progress: ProgressReporter) async {
        guard !options.artifacts.isEmpty || options.logsFolder != nil else { return }
        timer.begin("artifacts")
        for artifact in options.artifacts {
            do {
                let folder = try ConfinedFolder(creating: artifact.hostFolder.path, mode: StateAccess.userMode(0o755))
                let copied = try await session.download(artifact.guestPath, into: folder)
                if copied.skippedLinks > 0 {
                    progress.notice("note: \(copied.skippedLinks) symbolic link(s) inside \(artifact.guestPath) were not copied (links are never followed)")
                }
                collected.withLock { $0.artifacts.append(copied.local.path) }
            } catch {
                progress.notice("warning: artifact \(artifact.guestPath) was not copied: \(error)")
            }
        }
        guard let folder = options.logsFolder else { return }
        if let log = currentVM?.consoleLog { saveConsoleLog(log) }
        do {
            let journal = try ConfinedFolder(creating: folder.path, mode: StateAccess.userMode(0o755))
                .createFile("journal.txt", mode: StateAccess.userMode(0o644), replacing: true)
            // The guest decides how much it writes: a journal is cut at 256 MiB.
            _ = try await session.execute("journalctl -b --no-pager", input: -1, output: journal.fd, error: journal.fd, outputLimit: 256 << 20)
            collected.withLock { $0.logs.append(journal.path) }
        } catch {
            progress.notice("warning: the guest journal was not saved whole: \(error)")
        }
    }

    /// The VM's serial console log into --logs (also when the VM never answered SSH).
    func saveConsoleLog(_ log: URL) {
        guard let folder = options.logsFolder else { return }
        do {
            let source = try FileDescriptorHandle.openRegularFile(log.path)
            let target = try ConfinedFolder(creating: folder.path, mode: StateAccess.userMode(0o755))
                .createFile("console.log", mode: StateAccess.userMode(0o644), replacing: true)
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while case let count = try source.read(into: &buffer), count > 0 {
                try buffer.withUnsafeBytes { try target.write(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            }
            collected.withLock { $0.logs.append(target.path) }
        } catch {
            FileHandle.standardError.write(Data("warning: the console log was not saved: \(error)\n".utf8))
        }
    }

    /// The end of the run, however it ended: the JUnit report and the JSON summary.
    func finish(outcome: RunReport.Outcome, exitCode: Int32, message: String?) {
        writeReports(outcome: outcome, exitCode: exitCode, message: message)
    }

    private func writeReports(outcome: RunReport.Outcome, exitCode: Int32, message: String?) {
        let files = collected.withLock { $0 }
        let report = RunReport(image: options.image, command: options.command, vm: currentVM?.record.name,
                               outcome: outcome, exitCode: exitCode, message: message, started: timer.startDate,
                               seconds: timer.seconds, stages: timer.finish(), artifacts: files.artifacts, logs: files.logs)
        if let file = options.reportFile {
            do {
                try StateAccess.withUserUmask {
                    try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data(JUnitReport.render(report).utf8).write(to: file, options: .atomic)
                }
            } catch {
                FileHandle.standardError.write(Data("warning: the report \(file.path) was not written: \(error.localizedDescription)\n".utf8))
            }
        }
        if options.jsonSummary, let json = try? JSONText.render(report) {
            output.line(json)
        }
    }
}

/// `--artifact GUEST_PATH[:HOST_DIR]`: HOST_DIR defaults to the current folder.
package struct ArtifactSpec: Sendable, Equatable {
    package var guestPath: String
    package var hostFolder: URL

    package init?(_ spec: String, currentFolder: String = FileManager.default.currentDirectoryPath) {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let guest = parts.first, guest.hasPrefix("/"), guest.count > 1, !guest.contains("\0") else { return nil }
        guestPath = guest
        let host = parts.count > 1 && !parts[1].isEmpty ? parts[1] : currentFolder
        hostFolder = URL(fileURLWithPath: host, relativeTo: URL(fileURLWithPath: currentFolder, isDirectory: true)).standardizedFileURL
    }
}
