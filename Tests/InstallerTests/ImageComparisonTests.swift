// Comparing two images' files: from the layers only one has (whiteouts and opaque folders
// included) and by walking both trees; links never lead out of a tree.

import Foundation
@testable import Installer
import Testing

@Suite struct ImageComparisonTests {
    /// A scratch folder with helpers to lay out trees.
    final class Scratch {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("image-comparison-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: root) }

        func folder(_ path: String) throws -> String {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url.path
        }

        func file(_ path: String, _ text: String, mode: Int = 0o644) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        }

        func link(_ path: String, to target: String) throws {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
        }
    }

    func compare(_ scratch: Scratch, layers: [String]?) throws -> ImageChangeSet {
        let staging = try scratch.folder("staging")
        return try ImageComparison(old: ImageTree(root: scratch.root.appendingPathComponent("old").path),
                                   new: ImageTree(root: scratch.root.appendingPathComponent("new").path))
            .changes(layerFolders: layers, staging: URL(fileURLWithPath: staging))
    }

    @Test func walkingBothTreesFindsAddedChangedAndRemovedFiles() throws {
        let scratch = try Scratch()
        try scratch.file("old/etc/same.conf", "same")
        try scratch.file("new/etc/same.conf", "same")
        try scratch.file("old/etc/app.conf", "one")
        try scratch.file("new/etc/app.conf", "two")
        try scratch.file("old/usr/bin/app", "#!/bin/sh\n", mode: 0o755)
        try scratch.file("new/usr/bin/app", "#!/bin/sh\n", mode: 0o4755)
        try scratch.file("old/opt/gone/a", "a")
        try scratch.file("old/opt/gone/b", "b")
        _ = try scratch.folder("new/opt")
        try scratch.file("new/srv/new/file", "new")
        try scratch.link("new/etc/alias", to: "app.conf")

        let set = try compare(scratch, layers: nil)
        #expect(set.method == .trees)
        let summary: [String] = set.changes.map { "\($0.kind.rawValue) \($0.path)" }
        let expected: [String] = ["added /etc/alias", "changed /etc/app.conf", "removed /opt/gone", "added /srv", "added /srv/new",
                                  "added /srv/new/file", "changed /usr/bin/app"]
        #expect(summary == expected)
        let app = try #require(set.changes.first { $0.path == "/etc/app.conf" })
        #expect(try String(contentsOfFile: #require(app.staged), encoding: .utf8) == "two")
        #expect(set.changes.first { $0.path == "/usr/bin/app" }?.entry?.mode == 0o4755)
        #expect(set.changes.first { $0.path == "/etc/alias" }?.entry?.linkTarget == "app.conf")
    }

    @Test func sameSizeAndTimeButOtherContentIsAChange() throws {
        let scratch = try Scratch()
        try scratch.file("old/etc/app.conf", "one")
        try scratch.file("new/etc/app.conf", "two")
        try scratch.file("old/etc/same.conf", "same")
        try scratch.file("new/etc/same.conf", "same")
        // A reproducible build: every file has one time.
        for path in ["old/etc/app.conf", "new/etc/app.conf", "old/etc/same.conf", "new/etc/same.conf"] {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: scratch.root.appendingPathComponent(path).path)
        }
        #expect(try compare(scratch, layers: nil).changes.map(\.path) == ["/etc/app.conf"])
    }

    @Test func layerFoldersNameTheCandidatesWhiteoutsIncluded() throws {
        let scratch = try Scratch()
        // Shared base, then each image's own top layer.
        try scratch.file("old/etc/base.conf", "base")
        try scratch.file("new/etc/base.conf", "base")
        try scratch.file("old/etc/removed.conf", "x")
        try scratch.file("old/var/cache/app/1", "1")
        try scratch.file("new/var/cache/app/2", "2")
        try scratch.file("new/etc/added.conf", "added")
        // Untouched by either top layer: never even looked at.
        try scratch.file("old/usr/share/doc", "old")
        try scratch.file("new/usr/share/doc", "differs, but no unshared layer touches it")
        // The new image's top layer: adds a file, removes one (whiteout), replaces a folder (opaque).
        try scratch.file("top/etc/added.conf", "added")
        try scratch.file("top/etc/.wh.removed.conf", "")
        try scratch.file("top/var/cache/app/.wh..wh..opq", "")
        try scratch.file("top/var/cache/app/2", "2")

        let set = try compare(scratch, layers: [scratch.root.appendingPathComponent("top").path])
        #expect(set.method == .layers)
        let summary = Set(set.changes.map { "\($0.kind.rawValue) \($0.path)" })
        #expect(summary == ["added /etc/added.conf", "removed /etc/removed.conf", "removed /var/cache/app/1", "added /var/cache/app/2"])
    }

    @Test func unsharedLayersAreThoseAfterTheCommonBase() {
        let folders = ImageComparison.unsharedLayerFolders(old: (["a", "b", "c"], ["/a", "/b", "/c"]), new: (["a", "b", "d", "e"], ["/a", "/b", "/d", "/e"]))
        #expect(folders == ["/c", "/d", "/e"])
        // Another storage driver (no folders) or folders that do not line up: walk the trees.
        #expect(ImageComparison.unsharedLayerFolders(old: (["a"], nil), new: (["a"], ["/a"])) == nil)
        #expect(ImageComparison.unsharedLayerFolders(old: (["a", "b"], ["/a"]), new: (["a"], ["/a"])) == nil)
    }

    @Test func linksInTheTreeNeverLeadToTheHost() throws {
        let scratch = try Scratch()
        try scratch.file("secret/etc/shadow", "host secret")
        // The image's /etc is a link to the host's folder: nothing below it is read.
        try scratch.link("new/etc", to: scratch.root.appendingPathComponent("secret/etc").path)
        _ = try scratch.folder("old")
        let tree = try ImageTree(root: scratch.root.appendingPathComponent("new").path)
        #expect(tree.entry("/etc")?.kind == .symlink)
        #expect(tree.entry("/etc/shadow") == nil)
        #expect(tree.openFile("/etc/shadow") == nil)
        let set = try compare(scratch, layers: nil)
        #expect(set.changes.map(\.path) == ["/etc"])
        #expect(set.changes.allSatisfy { $0.staged == nil })
    }

    @Test func unitsRunningAChangedProgramAndEarlyBootUnitsAreNamed() throws {
        let scratch = try Scratch()
        try scratch.file("old/usr/bin/app", "v1", mode: 0o755)
        try scratch.file("new/usr/bin/app", "v2", mode: 0o755)
        try scratch.file("new/usr/lib/systemd/system/app.service", "[Service]\nExecStart=-/bin/app --serve\n")
        try scratch.file("old/usr/lib/systemd/system/app.service", "[Service]\nExecStart=-/bin/app --serve\n")
        try scratch.file("new/etc/systemd/system/early.service", "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/true\n")
        let set = try compare(scratch, layers: nil)
        #expect(set.unitsRunning == ["/usr/bin/app": ["app.service"]])
        #expect(set.earlyBootUnits == ["early.service"])
    }
}

@Suite struct BootcKernelArgumentsTests {
    @Test func kargsFilesInNameOrderForThisArchitecture() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("kargs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("usr/lib/bootc/kargs.d")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("kargs = [\"console=ttyS0\", 'quiet']\n".utf8).write(to: folder.appendingPathComponent("10-a.toml"))
        try Data("kargs = [\n  \"arm.only=1\",\n]\nmatch-architectures = [\"aarch64\"]\n".utf8).write(to: folder.appendingPathComponent("20-arm.toml"))
        try Data("kargs = [\"has space\", \"ok=1\"] # comment\n".utf8).write(to: folder.appendingPathComponent("30-b.toml"))
        try Data("kargs = [\"ignored\"]\n".utf8).write(to: folder.appendingPathComponent("README"))
        #expect(BootcKernelArguments.arguments(root: root, architecture: .x86_64) == ["console=ttyS0", "quiet", "ok=1"])
        #expect(BootcKernelArguments.arguments(root: root, architecture: .aarch64) == ["console=ttyS0", "quiet", "arm.only=1", "ok=1"])
    }
}
