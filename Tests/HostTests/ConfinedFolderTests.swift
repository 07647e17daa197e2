// Writing where artifacts and logs go: never through a link, never over a file by accident.

import Foundation
@testable import Host
import Testing

@Suite struct ConfinedFolderTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("confined-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true) }

    @Test func createsMissingFoldersAndNewFiles() throws {
        let folder = try ConfinedFolder(creating: base.appendingPathComponent("a/b").path, mode: 0o755)
        let file = try folder.createFile("x.txt", mode: 0o644, replacing: false)
        try Array("hi".utf8).withUnsafeBytes { try file.write($0) }
        #expect(try String(contentsOf: base.appendingPathComponent("a/b/x.txt"), encoding: .utf8) == "hi")
        #expect(throws: ConfinedPathError.self) { try folder.createFile("x.txt", mode: 0o644, replacing: false) }
    }

    @Test func aLinkAnywhereOnThePathIsRefused() throws {
        let outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("link"), withDestinationURL: outside)
        let error = #expect(throws: ConfinedPathError.self) {
            try ConfinedFolder(creating: base.appendingPathComponent("link/deeper").path, mode: 0o755)
        }
        #expect(error?.reason == "is a symbolic link")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty)
    }

    @Test func aPlantedLinkIsReplacedNotFollowed() throws {
        let victim = base.appendingPathComponent("victim")
        try "keep".write(to: victim, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("console.log"), withDestinationURL: victim)
        let folder = try ConfinedFolder(creating: base.path, mode: 0o755)
        #expect(throws: ConfinedPathError.self) { try folder.createFile("console.log", mode: 0o644, replacing: false) }
        let file = try folder.createFile("console.log", mode: 0o644, replacing: true)
        try Array("log".utf8).withUnsafeBytes { try file.write($0) }
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
        let type = try FileManager.default.attributesOfItem(atPath: base.appendingPathComponent("console.log").path)[.type] as? FileAttributeType
        #expect(type == .typeRegular)
    }

    @Test(arguments: ["", ".", "..", "a/b", "a\u{0}b"])
    func namesThatAreNotOneComponentAreRefused(name: String) throws {
        let folder = try ConfinedFolder(creating: base.path, mode: 0o755)
        #expect(throws: ConfinedPathError.self) { try folder.subfolder(name, mode: 0o755) }
        #expect(throws: ConfinedPathError.self) { try folder.createFile(name, mode: 0o644, replacing: true) }
    }
}

@Suite struct StateAccessTests {
    @Test func tighteningTakesAwayGroupAndOtherAccess() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("cache/k"), withIntermediateDirectories: true)
        let disk = root.appendingPathComponent("cache/k/disk.raw")
        _ = FileManager.default.createFile(atPath: disk.path, contents: Data("x".utf8))
        chmod(disk.path, 0o644)
        chmod(root.appendingPathComponent("cache/k").path, 0o755)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("cache/link"), withDestinationURL: URL(fileURLWithPath: "/etc/hostname"))
        StateAccess.tighten(root)
        func mode(_ url: URL) throws -> Int { try (FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? -1 }
        #expect(try mode(disk) == 0o600)
        #expect(try mode(root.appendingPathComponent("cache/k")) == 0o711)
        #expect(try mode(URL(fileURLWithPath: "/etc/hostname")) & 0o004 != 0, "a link's target is never touched")
    }
}

@Suite struct KVMDeviceAccessTests {
    let qemu: uid_t = 64055
    let kvm: gid_t = 107

    @Test func rootOnlyDeviceIsUnusableForQEMU() {
        let facts = KVMDeviceAccess.Facts(deviceUID: 0, deviceGID: 0, mode: 0o600, qemuUID: qemu, qemuGroups: [kvm, 64055])
        #expect(!facts.qemuCanOpen)
        #expect(KVMDeviceAccess.warning(facts)?.contains("chgrp kvm /dev/kvm && sudo chmod 0660 /dev/kvm") == true)
    }

    @Test func udevModesAreUsable() {
        #expect(KVMDeviceAccess.Facts(deviceUID: 0, deviceGID: kvm, mode: 0o660, qemuUID: qemu, qemuGroups: [kvm]).qemuCanOpen)
        #expect(KVMDeviceAccess.Facts(deviceUID: 0, deviceGID: 0, mode: 0o666, qemuUID: qemu, qemuGroups: []).qemuCanOpen)
        #expect(KVMDeviceAccess.Facts(deviceUID: 0, deviceGID: 0, mode: 0o600, qemuUID: 0, qemuGroups: []).qemuCanOpen)
        #expect(KVMDeviceAccess.warning(KVMDeviceAccess.Facts(deviceUID: 0, deviceGID: kvm, mode: 0o660, qemuUID: qemu, qemuGroups: [kvm])) == nil)
    }

    @Test func qemuConfUserIsRead() {
        #expect(KVMDeviceAccess.configuredQEMUUser(qemuConf: "#user = \"x\"\nuser = \"root\"\n") == "root")
        #expect(KVMDeviceAccess.configuredQEMUUser(qemuConf: "# nothing\n") == "libvirt-qemu")
        #expect(KVMDeviceAccess.configuredQEMUUser(qemuConf: nil) == "libvirt-qemu")
    }
}

@Suite struct ChildProcessesTests {
    @Test func terminatesWhatThisProcessStarted() async throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["60"]
        try child.run()
        #expect(ChildProcesses.current().contains(child.processIdentifier))
        // Only this test's child: other tests of this process run programs too.
        ChildProcesses.terminate([child.processIdentifier], grace: .seconds(2))
        var gone = false
        for _ in 0..<40 where !gone {
            let stat = (try? String(contentsOfFile: "/proc/\(child.processIdentifier)/stat", encoding: .utf8)) ?? ""
            gone = stat.isEmpty || stat.contains(") Z")
            if !gone { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(gone)
    }
}

@Suite struct RegularFileTests {
    @Test func onlyRegularFilesAreOpenedForReading() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("regular-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base.appendingPathComponent("folder"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let file = base.appendingPathComponent("log")
        try "console".write(to: file, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("link"), withDestinationURL: file)
        #expect(mkfifo(base.appendingPathComponent("fifo").path, 0o600) == 0)

        var buffer = [UInt8](repeating: 0, count: 64)
        let count = try FileDescriptorHandle.openRegularFile(file.path).read(into: &buffer)
        #expect(String(decoding: buffer[..<count], as: UTF8.self) == "console")
        for name in ["folder", "fifo", "link", "missing"] {
            #expect(throws: ConfinedPathError.self, "\(name)") { try FileDescriptorHandle.openRegularFile(base.appendingPathComponent(name).path) }
        }
    }
}
