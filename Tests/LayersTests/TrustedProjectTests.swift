// A project folder is read and .build/ written relative to the open folder, never through a
// link, and a found folder is used only when it is the caller's (git's safe.directory rule).

import Foundation
import Host
@testable import Layers
import Testing

@Suite struct TrustedProjectTests {
    /// A host file another user may not read (the test writes its own stand-in).
    func secret(beside root: URL) throws -> URL {
        let file = root.deletingLastPathComponent().appendingPathComponent("secret-\(UUID().uuidString)")
        try "root:$6$hash:::\n".write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func aTemplateLinkIsAProblemAndNeverCopied() throws {
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        let secret = try secret(beside: root)
        defer { try? FileManager.default.removeItem(at: secret) }
        let header = root.appendingPathComponent("templates/supervisord.header.conf")
        try FileManager.default.removeItem(at: header)
        try FileManager.default.createSymbolicLink(at: header, withDestinationURL: secret)

        let project = try Project.load(root: root)
        #expect(project.supervisordHeader == nil)
        let problems = project.validate().map(\.description)
        #expect(problems.contains { $0.contains("supervisord.header.conf: is a symbolic link") }, "\(problems)")
        #expect(throws: ProjectInvalid.self) { try project.generateAll() }
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent(".build").path))
    }

    @Test func imagesYmlOrALayerAsALinkIsRefused() throws {
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        let elsewhere = root.deletingLastPathComponent().appendingPathComponent("images-\(UUID().uuidString).yml")
        try FileManager.default.moveItem(at: root.appendingPathComponent("images.yml"), to: elsewhere)
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("images.yml"), withDestinationURL: elsewhere)
        let error = #expect(throws: LayerProblem.self) { try Project.load(root: root) }
        #expect(error?.message.contains("is a symbolic link") == true, "\(String(describing: error))")

        try FileManager.default.removeItem(at: root.appendingPathComponent("images.yml"))
        try FileManager.default.moveItem(at: elsewhere, to: root.appendingPathComponent("images.yml"))
        let outside = root.deletingLastPathComponent().appendingPathComponent("layer-\(UUID().uuidString)")
        try FileManager.default.moveItem(at: root.appendingPathComponent("layers/pixi"), to: outside)
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("layers/pixi"), withDestinationURL: outside)
        let problems = try Project.load(root: root).validate().map(\.description)
        #expect(problems.contains { $0.contains("layers/pixi: is a symbolic link") }, "\(problems)")
    }

    /// A .build planted as a link: refused, nothing written where it points.
    @Test func aPlantedBuildLinkIsNeverWrittenThrough() throws {
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        let target = root.deletingLastPathComponent().appendingPathComponent("target-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: target) }
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent(".build"), withDestinationURL: target)

        let project = try Project.load(root: root)
        let error = #expect(throws: ConfinedPathError.self) { try project.write(try project.generateAll()) }
        #expect(error?.reason == "is a symbolic link")
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path).isEmpty)
    }

    /// .build/IMAGE planted as a link to a folder of someone's files: the link itself is
    /// replaced, the folder and its files stay; a link inside .build/IMAGE likewise.
    @Test func aPlantedImageFolderLinkIsRemovedNotFollowed() throws {
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        let victim = root.deletingLastPathComponent().appendingPathComponent("victim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: victim) }
        try "keep".write(to: victim.appendingPathComponent("precious"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".build"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent(".build/fedora"), withDestinationURL: victim)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".build/fedora-test/fragments"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent(".build/fedora-test/fragments/00-header.conf"),
                                                   withDestinationURL: victim.appendingPathComponent("precious"))

        let project = try Project.load(root: root)
        let generated = try project.generateAll()
        #expect(!generated.allSatisfy(project.isWritten), "links are never what write puts there")
        try project.write(generated)
        #expect(try String(contentsOf: victim.appendingPathComponent("precious"), encoding: .utf8) == "keep")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim.path) == ["precious"])
        let written = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(".build/fedora").path)
        #expect(written[.type] as? FileAttributeType == .typeDirectory)
        #expect(generated.allSatisfy(project.isWritten))
    }

    /// A found project of another user is refused with the --config hint; named, it is used.
    @Test func anotherUsersProjectIsUsedOnlyWhenNamed() throws {
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        var owner = stat()
        #expect(stat(root.path, &owner) == 0)
        // The caller seen as someone else: root and a uid that owns nothing here.
        let someoneElse = TrustedOwners(uids: owner.st_uid == 0 ? [4_000_000] : [0, 4_000_000])
        let error = #expect(throws: LayerProblem.self) { try Project.load(root: root, owners: someoneElse) }
        #expect(error?.message.contains("not by you") == true && error?.message.contains("--config") == true, "\(String(describing: error))")
        let named = try Project.load(root: root, imagesFile: root.appendingPathComponent("images.yml"), owners: someoneElse)
        #expect(named.images.images.count > 0)
    }
}
