// SELinux labels for the direct installer's disks. An image whose /etc/selinux/config turns
// SELinux on (enforcing or permissive) and ships its policy's file_contexts gets every file of
// the new root labelled as that policy says, as `bootc install` does: an unlabelled root
// boots enforcing into "Permission denied" at every step and never answers.
//
// How, without mounting anything: setfiles (policycoreutils) computes each file's label from
// the image's own file_contexts over the image tree (`-n -v`: it writes nothing and says what
// it would set), and debugfs (e2fsprogs) writes those labels into the new filesystem as
// `security.selinux` attributes.

import BootcCore
import Foundation
import Host
import Logging

/// The policy an image turns on.
public struct SELinuxPolicy: Sendable, Equatable {
    /// SELINUXTYPE, e.g. "default", "targeted".
    public var name: String
    /// SELINUX: "enforcing" or "permissive".
    public var mode: String

    static let configuration = "/etc/selinux/config"
    /// The file_contexts family: the base file and what libselinux reads beside it.
    static let contextFiles = ["file_contexts", "file_contexts.local", "file_contexts.homedirs", "file_contexts.subs",
                               "file_contexts.subs_dist"]

    var contextsFolder: String { "/etc/selinux/\(name)/contexts/files" }

    /// The policy `root`'s configuration turns on, nil when SELinux is off there or the image
    /// has no file_contexts for it (nothing to label with). Read without following links.
    public static func find(in root: URL) -> SELinuxPolicy? {
        guard let tree = try? ImageTree(root: root.path), let text = tree.smallFile(configuration) else { return nil }
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].hasPrefix("#") else { continue }
            values[parts[0]] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        guard let mode = values["SELINUX"]?.lowercased(), mode == "enforcing" || mode == "permissive",
              let name = values["SELINUXTYPE"], !name.isEmpty,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }),
              name != ".", name != ".." else { return nil }
        let policy = SELinuxPolicy(name: name, mode: mode)
        guard tree.entry(policy.contextsFolder + "/file_contexts")?.kind == .file else { return nil }
        return policy
    }
}

public struct SELinuxLabellingError: ToolError {
    var reason: String
    public var description: String { reason }
}

struct SELinuxLabelling: Sendable {
    let runner: any ProcessRunner
    let logger: Logger

    static let attribute = "security.selinux"

    /// Labels every file of the ext4 filesystem at `offset` in `disk`, built from `root`.
    /// `scratch` is a private folder for the policy's files and the debugfs script.
    func label(disk: URL, offset: UInt64, tree root: URL, policy: SELinuxPolicy, image: String, scratch: URL) async throws {
        let specification = try copyContextFiles(of: policy, from: root, to: scratch)
        let result: ProcessResult
        do {
            result = try await runner.run(["setfiles", "-n", "-v", "-r", root.path, specification.path, root.path])
        } catch ProcessError.notInstalled {
            throw SELinuxLabellingError(reason: Self.missingTool(image: image, policy: policy))
        }
        guard result.status == 0 else {
            throw SELinuxLabellingError(reason: "setfiles could not compute the SELinux labels of \(image) (exit \(result.status)): "
                + result.standardError.split(separator: "\n").prefix(3).joined(separator: "; "))
        }
        var labels = try Self.labels(fromSetfiles: result.standardOutput + "\n" + result.standardError, root: root.path)
        // mke2fs makes /lost+found itself: not in the image tree, so setfiles never saw it.
        if !labels.contains(where: { $0.path == "/lost+found" }) {
            let found = try? await runner.run(["matchpathcon", "-N", "-n", "-m", "dir", "-f", specification.path, "/lost+found"])
            if let label = found?.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), found?.status == 0, Self.isLabel(label) {
                labels.append(("/lost+found", label))
            }
        }
        guard !labels.isEmpty else {
            throw SELinuxLabellingError(reason: "the file_contexts of \(image)'s SELinux policy \(policy.name) give no file a label")
        }
        let script = scratch.appendingPathComponent("selinux-labels.debugfs")
        try Data(Self.debugfsScript(labels).utf8).write(to: script)
        let written = try await runner.run(["debugfs", "-w", "-f", script.path, "\(disk.path)?offset=\(offset)"])
        let errors = written.standardError.split(separator: "\n").filter { !$0.hasPrefix("debugfs ") }
        guard written.status == 0, errors.isEmpty else {
            throw SELinuxLabellingError(reason: "debugfs could not write the SELinux labels of \(image): "
                + errors.prefix(3).joined(separator: "; "))
        }
        logger.info("labelled \(labels.count) files with \(image)'s SELinux policy \(policy.name) (\(policy.mode))")
    }

    static func missingTool(image: String, policy: SELinuxPolicy) -> String {
        "\(image) runs SELinux \(policy.mode) (policy \(policy.name)): its files must be labelled, which needs setfiles on this host. "
            + "Install policycoreutils (apt install policycoreutils, dnf install policycoreutils), or use --installer bootc"
    }

    /// The image's file_contexts files, copied into `scratch` (libselinux reads the family
    /// beside the path it is given; the compiled .bin is left out, the text is the truth).
    private func copyContextFiles(of policy: SELinuxPolicy, from root: URL, to scratch: URL) throws -> URL {
        let tree = try ImageTree(root: root.path)
        let folder = scratch.appendingPathComponent("selinux")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in SELinuxPolicy.contextFiles {
            guard let data = tree.smallData(policy.contextsFolder + "/" + name, limit: 64 << 20) else { continue }
            try data.write(to: folder.appendingPathComponent(name))
        }
        return folder.appendingPathComponent("file_contexts")
    }

    /// (path in the image, label) from `setfiles -n -v -r ROOT` lines:
    /// "Would relabel ROOT/PATH from CURRENT to LABEL" (labels hold no spaces; paths may).
    static func labels(fromSetfiles output: String, root: String) throws -> [(path: String, label: String)] {
        var labels: [(String, String)] = []
        let prefix = "Would relabel "
        for line in output.split(separator: "\n") where line.hasPrefix(prefix) {
            let words = line.split(separator: " ", omittingEmptySubsequences: false)
            guard words.count >= 7, words[words.count - 2] == "to", words[words.count - 4] == "from" else {
                throw SELinuxLabellingError(reason: "unexpected setfiles output: \(line.prefix(200))")
            }
            let label = String(words[words.count - 1])
            let hostPath = words[2..<(words.count - 4)].joined(separator: " ")
            guard isLabel(label), hostPath == root || hostPath.hasPrefix(root + "/") else {
                throw SELinuxLabellingError(reason: "unexpected setfiles output: \(line.prefix(200))")
            }
            let path = hostPath == root ? "/" : String(hostPath.dropFirst(root.count))
            labels.append((path, label))
        }
        return labels
    }

    /// An SELinux context: user:role:type[:level], in the characters policies use.
    static func isLabel(_ text: String) -> Bool {
        text.split(separator: ":").count >= 3 && text.count < 256
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_:.,-".contains($0)) }
    }

    /// debugfs reads a script line into a BUFSIZ (8 KiB) buffer: a longer line would be cut and
    /// its rest run as a command of its own (`!` runs a shell). Lines stay far below that.
    static let longestScriptLine = 4000

    /// One `ea_set` per file; paths are double-quoted, a quote doubled (debugfs's parser).
    /// A path that cannot be written as one script line (a line break, a name that is not
    /// UTF-8, too long a line) is refused: the install stops rather than write a wrong script.
    static func debugfsScript(_ labels: [(path: String, label: String)]) throws -> String {
        var script = ""
        for (path, label) in labels {
            guard !path.contains(where: \.isNewline), !path.contains("\0"), !path.contains("\u{FFFD}") else {
                throw SELinuxLabellingError(reason: "cannot label \(path.debugDescription): its name holds a line break or bytes that are not UTF-8")
            }
            let line = "ea_set \"\(path.replacingOccurrences(of: "\"", with: "\"\""))\" \(attribute) \(label)\n"
            guard line.utf8.count <= longestScriptLine else {
                throw SELinuxLabellingError(reason: "cannot label \(path.prefix(200).debugDescription)...: its path is too long for debugfs")
            }
            script += line
        }
        return script
    }
}
