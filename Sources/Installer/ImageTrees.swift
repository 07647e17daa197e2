// Reading an image's files: what podman-bootc needs to know from inside them, and the direct
// installer's disk built from them. Root mounts the image here; a rootless user's storage
// shows the files with their real owners only inside the user's namespace, so the work runs
// there (see UserNamespaceImageTrees).

import BootcCore
import Foundation
import Host
import Logging
import Podman

/// Where an image's files are: podman storage (by image ID) or a root filesystem folder.
public enum ImageTreeSource: Codable, Sendable, Equatable {
    case image(id: String)
    case folder(path: String)
}

/// What the installers decide from an image's files.
public struct ImageTreeFacts: Codable, Sendable, Equatable {
    /// The kernel's version, nil when the image has no kernel podman-bootc can boot.
    public var kernelVersion: String?
    public var hasBootc: Bool
    /// bootc's install config names a root filesystem (otherwise bootc needs --filesystem).
    public var declaresRootFilesystem: Bool

    public init(kernelVersion: String?, hasBootc: Bool, declaresRootFilesystem: Bool) {
        self.kernelVersion = kernelVersion
        self.hasBootc = hasBootc
        self.declaresRootFilesystem = declaresRootFilesystem
    }

    /// Read from a root filesystem on this host.
    public static func read(root: URL) -> ImageTreeFacts {
        ImageTreeFacts(kernelVersion: KernelLocator.locate(in: root)?.version,
                       hasBootc: KernelLocator.existingFile(root.appendingPathComponent("usr/bin/bootc"), root: root) != nil,
                       declaresRootFilesystem: BootcInstaller.declaresRootFilesystem(imageRoot: root))
    }
}

/// What the direct installer needs besides the image's files.
public struct DirectDiskSpec: Codable, Sendable, Equatable {
    public var reference: String
    public var diskSize: ByteSize
    public var architecture: Architecture
    public var kernelArguments: [String]
    /// The (partial) cache folder that receives disk.raw, vmlinuz and initrd.img.
    public var directory: String

    public init(reference: String, diskSize: ByteSize, architecture: Architecture, kernelArguments: [String], directory: String) {
        self.reference = reference
        self.diskSize = diskSize
        self.architecture = architecture
        self.kernelArguments = kernelArguments
        self.directory = directory
    }

    var layout: DiskLayout { DiskLayout(diskSize: diskSize, architecture: architecture) }
}

/// The direct installer's result: the disk and kernel files, and the kernel's version.
public struct DirectDisk: Codable, Sendable, Equatable {
    public var artifacts: BootArtifacts
    public var kernelVersion: String
}

public protocol ImageTrees: Sendable {
    /// Facts of each source, in order.
    func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts]
    /// Builds the direct installer's disk from `source` into `spec.directory`.
    func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk
    /// What changed from image `old` to image `new` (IDs in podman storage); the new content
    /// of changed files is copied into the folder `staging`.
    func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet
}

/// Reads images on this host: podman's mount of each (recorded in a ledger, so a killed
/// process's mounts are undone by the next), or the folder itself.
public struct MountedImageTrees: ImageTrees {
    let podman: Podman
    let runner: any ProcessRunner
    let ledger: URL
    let logger: Logger

    /// `ledger`: the folder recording mounts held by running processes.
    public init(podman: Podman, runner: any ProcessRunner, ledger: URL, logger: Logger) {
        self.podman = podman
        self.runner = runner
        self.ledger = ledger
        self.logger = logger
    }

    public func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts] {
        var result: [ImageTreeFacts] = []
        for source in sources {
            result.append(try await withRoot(source) { ImageTreeFacts.read(root: $0) })
        }
        return result
    }

    public func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk {
        try await withRoot(source) { root in
            let (artifacts, version) = try await DirectInstaller(runner: runner, logger: logger).build(
                reference: spec.reference, root: root, layout: spec.layout, extraKernelArguments: spec.kernelArguments,
                into: URL(fileURLWithPath: spec.directory))
            return DirectDisk(artifacts: artifacts, kernelVersion: version)
        }
    }

    public func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet {
        guard let oldImage = try await podman.inspect(old) else { throw ImageTreeError(message: "the image \(old.prefix(12)) is no longer in podman storage") }
        guard let newImage = try await podman.inspect(new) else { throw ImageTreeError(message: "the image \(new.prefix(12)) is not in podman storage") }
        let folders = ImageComparison.unsharedLayerFolders(
            old: (oldImage.rootFS?.layers ?? [], oldImage.graphDriver?.overlayLayerFolders),
            new: (newImage.rootFS?.layers ?? [], newImage.graphDriver?.overlayLayerFolders))
        let ledger = MountLedger(folder: ledger, podman: podman)
        return try await ledger.withMountedImage(old) { oldRoot in
            try await ledger.withMountedImage(new) { newRoot in
                try ImageComparison(old: try ImageTree(root: oldRoot.path), new: try ImageTree(root: newRoot.path))
                    .changes(layerFolders: folders, staging: URL(fileURLWithPath: staging))
            }
        }
    }

    private func withRoot<T: Sendable>(_ source: ImageTreeSource, _ body: (URL) async throws -> T) async throws -> T {
        switch source {
        case .folder(let path):
            return try await body(URL(fileURLWithPath: path))
        case .image(let id):
            return try await MountLedger(folder: ledger, podman: podman).withMountedImage(id, body)
        }
    }
}

/// Runs the work inside the user's namespace (`podman unshare`), where rootless storage
/// can be mounted and its files keep the owners they have in the image: mkfs then writes
/// root's files as root's and uid 1000's as uid 1000's, setuid bits included, with no loop
/// device and no mount on the host. The work is this program's hidden `image-tree`
/// command, fed a request on stdin; it answers in JSON on stdout.
public struct UserNamespaceImageTrees: ImageTrees {
    let runner: any ProcessRunner
    /// The argv that runs the hidden command, e.g. [podman, unshare, /path/to/podman-bootc, image-tree].
    let helper: [String]
    let ledger: URL
    /// Where the helper's warnings go (it logs to a captured stderr).
    let relay: @Sendable (String) -> Void

    public init(runner: any ProcessRunner, helper: [String], ledger: URL, relay: @escaping @Sendable (String) -> Void = { _ in }) {
        self.runner = runner
        self.helper = helper
        self.ledger = ledger
        self.relay = relay
    }

    public func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts] {
        try await ask(ImageTreeRequest(ledger: ledger.path, facts: sources), answer: [ImageTreeFacts].self)
    }

    public func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk {
        try await ask(ImageTreeRequest(ledger: ledger.path, build: source, spec: spec), answer: DirectDisk.self)
    }

    public func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet {
        try await ask(ImageTreeRequest(ledger: ledger.path, changesFrom: old, to: new, staging: staging), answer: ImageChangeSet.self)
    }

    private func ask<Answer: Decodable>(_ request: ImageTreeRequest, answer: Answer.Type) async throws -> Answer {
        let input = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let result = try await runner.run(helper, stdin: input, stderr: .capture)
        guard result.status == 0 else {
            throw ImageTreeError(message: Self.errorMessage(result.standardError))
        }
        for line in result.standardError.split(separator: "\n") where !line.isEmpty { relay(String(line)) }
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(result.standardOutput.utf8))
        } catch {
            throw ImageTreeError(message: "the user-namespace helper answered something unexpected: \(result.standardOutput.prefix(200).debugDescription)")
        }
    }

    /// The helper's own `Error: ...` line (it is this program), else all it said.
    static func errorMessage(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n")
        if let line = lines.last(where: { $0.hasPrefix("Error: ") }) { return String(line.dropFirst("Error: ".count)) }
        let text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "reading the image inside your user namespace (podman unshare) failed" : "podman unshare failed: \(text)"
    }
}

/// Remembers the facts of images in podman storage by image ID (content-addressed, so they
/// never change): a run of a cached image then reads no files, which for a user saves the
/// trip into the user namespace. Folders are always read (their contents can change).
public struct RememberedImageTrees: ImageTrees {
    let trees: any ImageTrees
    /// One JSON file per image ID.
    let folder: URL

    public init(_ trees: any ImageTrees, folder: URL) {
        self.trees = trees
        self.folder = folder
    }

    public func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts] {
        var known = sources.map(remembered)
        let missing = sources.indices.filter { known[$0] == nil }
        if !missing.isEmpty {
            let read = try await trees.facts(missing.map { sources[$0] })
            for (index, facts) in zip(missing, read) {
                known[index] = facts
                remember(facts, for: sources[index])
            }
        }
        return known.compactMap { $0 }
    }

    public func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk {
        try await trees.buildDirectDisk(source, spec: spec)
    }

    public func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet {
        try await trees.changes(from: old, to: new, staging: staging)
    }

    private func file(_ source: ImageTreeSource) -> URL? {
        guard case .image(let id) = source, !id.isEmpty, id.allSatisfy(\.isHexDigit) else { return nil }
        return folder.appendingPathComponent(id + ".json")
    }

    private func remembered(_ source: ImageTreeSource) -> ImageTreeFacts? {
        guard let file = file(source), let data = try? Data(contentsOf: file) else { return nil }
        return try? JSONDecoder().decode(ImageTreeFacts.self, from: data)
    }

    /// Best effort: a fact not written is read again next time.
    private func remember(_ facts: ImageTreeFacts, for source: ImageTreeSource) {
        guard let file = file(source), let data = try? JSONEncoder().encode(facts) else { return }
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try? data.write(to: file, options: .atomic)
    }
}

/// One request to the hidden `image-tree` command: facts of some images, or one disk.
public struct ImageTreeRequest: Codable, Sendable {
    public var ledger: String
    public var facts: [ImageTreeSource]?
    public var build: ImageTreeSource?
    public var spec: DirectDiskSpec?
    /// Image IDs to compare, and the folder receiving changed files.
    public var changesFrom: String?
    public var changesTo: String?
    public var staging: String?

    public init(ledger: String, facts: [ImageTreeSource]) {
        self.ledger = ledger
        self.facts = facts
    }

    public init(ledger: String, build: ImageTreeSource, spec: DirectDiskSpec) {
        self.ledger = ledger
        self.build = build
        self.spec = spec
    }

    public init(ledger: String, changesFrom old: String, to new: String, staging: String) {
        self.ledger = ledger
        self.changesFrom = old
        self.changesTo = new
        self.staging = staging
    }

    /// Serves the request with `trees` (inside the namespace): the JSON answer.
    public func serve(with trees: any ImageTrees) async throws -> Data {
        if let facts { return try JSONEncoder().encode(try await trees.facts(facts)) }
        if let changesFrom, let changesTo, let staging {
            return try JSONEncoder().encode(try await trees.changes(from: changesFrom, to: changesTo, staging: staging))
        }
        guard let build, let spec else { throw ImageTreeError(message: "an image-tree request names neither facts nor a disk to build") }
        return try JSONEncoder().encode(try await trees.buildDirectDisk(build, spec: spec))
    }
}

public struct ImageTreeError: ToolError, Equatable {
    public var message: String

    public init(message: String) { self.message = message }

    public var description: String { message }
}
