// export's options, checked and resolved to paths before anything is built or installed.

@testable import BootcPipeline
import BootcCore
import Export
import Foundation
import Testing

@Suite struct ExportPlanTests {
    func request(_ format: ExportFormat, target: String = "localhost/podman-bootc-test:debian", output: String? = nil, tag: String? = nil,
                 identity: String? = nil, name: String? = nil) -> ExportRequest {
        ExportRequest(target: target, config: nil, format: format, output: output, tag: tag, identity: identity, name: name,
                      user: .root, disk: DiskChoices(), cpus: 2, memoryMiB: 2048)
    }

    @Test func theDefaultNameComesFromWhatTheUserNamed() {
        #expect(ExportSequence.defaultName(for: "quay.io/fedora/fedora-bootc:42") == "fedora-bootc")
        #expect(ExportSequence.defaultName(for: "localhost/x@sha256:abc") == "x")
        #expect(ExportSequence.defaultName(for: "./images/web/") == "web")
        #expect(ExportSequence.defaultName(for: "/etc/containers/systemd/app.build") == "app")
        #expect(ExportSequence.defaultName(for: "My_Image") == "my-image")
        #expect(ExportSequence.defaultName(for: "___") == "podman-bootc")
        #expect(ExportSequence.defaultName(for: "") == "podman-bootc")
    }

    @Test func defaultOutputsFollowTheName() throws {
        let qcow2 = try ExportSequence.Plan(request(.qcow2, target: "localhost/podman-bootc-export-plan-\(UUID().uuidString.prefix(6).lowercased())"))
        #expect(qcow2.diskOutput?.lastPathComponent == "\(qcow2.name).qcow2")
        #expect(qcow2.identityFolder == nil)
        let kubevirt = try ExportSequence.Plan(request(.kubevirt, name: "demo-\(UUID().uuidString.prefix(6).lowercased())"))
        #expect(kubevirt.identityFolder?.lastPathComponent == "\(kubevirt.name)-kubevirt")
        #expect(kubevirt.tag == nil)
    }

    @Test func anExistingOutputIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("export-plan-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let disk = folder.appendingPathComponent("d.raw")
        #expect(FileManager.default.createFile(atPath: disk.path, contents: Data()))
        #expect(throws: ExportError.outputExists(disk.path)) { try ExportSequence.Plan(request(.raw, output: disk.path)) }
        #expect(throws: ExportError.outputFolderMissing(folder.path + "/none/d.raw")) {
            try ExportSequence.Plan(request(.raw, output: folder.path + "/none/d.raw"))
        }
    }

    @Test func optionsThatDoNotFitTheFormatAreUsageErrors() {
        let cases: [ExportRequest] = [
            request(.raw, tag: "localhost/x:1"),
            request(.containerdisk, output: "x.qcow2"),
            request(.kubevirt, identity: "id"),
            request(.containerdisk, tag: "Bad Tag"),
            request(.containerdisk, tag: "abcdef0123"),
            request(.qcow2, name: "Bad_Name"),
        ]
        for bad in cases {
            #expect(throws: ExportUsageError.self) { try ExportSequence.Plan(bad) }
        }
    }

    @Test func aNonEmptyIdentityFolderIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("export-id-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try ExportSequence.Plan(request(.qcow2, output: folder.appendingPathComponent("d.qcow2").path, identity: folder.path)).identityFolder?.path == folder.path)
        #expect(FileManager.default.createFile(atPath: folder.appendingPathComponent("id_ed25519").path, contents: Data()))
        #expect(throws: ExportUsageError.identityFolderNotEmpty(folder.path)) {
            try ExportSequence.Plan(request(.qcow2, output: folder.appendingPathComponent("d.qcow2").path, identity: folder.path))
        }
    }
}
