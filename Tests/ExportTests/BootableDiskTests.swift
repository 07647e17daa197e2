import BootcCore
import Foundation
import Testing
@testable import Export

@Suite struct BootableDiskTests {
    static let directTable = """
        {"partitiontable": {"label": "gpt", "id": "X", "device": "disk.raw", "unit": "sectors", "firstlba": 2048,
         "lastlba": 20969438, "sectorsize": 512,
         "partitions": [{"node": "disk.raw1", "start": 2048, "size": 20967424,
                         "type": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "uuid": "0F1C3B0E-4B4E-4E43-9F50-111111111111", "name": "root"}]}}
        """

    @Test func theSystemPartitionGoesAfterTheRootAndTheRootStaysWhereItIs() throws {
        let table = try PartitionTable.parse(Self.directTable)
        let plan = SystemPartitionPlan.plan(after: table, payload: 80 << 20)
        #expect(plan.offset == (2048 + 20_967_424) * 512)
        #expect(plan.offset % (1 << 20) == 0)
        #expect(plan.size >= 100 << 20 && plan.size % (1 << 20) == 0)
        #expect(plan.diskSize == plan.offset + plan.size + (1 << 20))
        let lines = plan.sfdiskScript.split(separator: "\n")
        #expect(lines[2] == "start=2048, size=20967424, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=0F1C3B0E-4B4E-4E43-9F50-111111111111, name=\"root\"")
        #expect(lines[3] == "start=\(plan.offset / 512), size=\(plan.size / 512), type=\(SystemPartitionPlan.espType), name=\"ESP\"")
    }

    @Test func aSmallPayloadStillGetsA64MiBSystemPartition() throws {
        let plan = SystemPartitionPlan.plan(after: try PartitionTable.parse(Self.directTable), payload: 1 << 20)
        #expect(plan.size == 64 << 20)
    }

    @Test func aPartitionNameThatCouldBreakTheScriptIsLeftOut() throws {
        let json = Self.directTable.replacingOccurrences(of: "\"name\": \"root\"", with: "\"name\": \"a\\\"\\nstart=1\"")
        let plan = SystemPartitionPlan.plan(after: try PartitionTable.parse(json), payload: 1 << 20)
        #expect(!plan.sfdiskScript.contains("start=1\""))
        #expect(plan.sfdiskScript.split(separator: "\n").count == 4)
    }

    @Test func theImagesOwnBootloaderComesFirstAndAMissingOneIsExplained() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("loader-\(UUID().uuidString).efi")
        try Data("MZ".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try BootableDiskWriter.findBootloader(.aarch64, image: file.path) == file.path)
        let missing = "/nonexistent/\(UUID().uuidString).efi"
        if !Architecture.aarch64.systemdBootPaths.contains(where: { FileManager.default.isReadableFile(atPath: $0) }) {
            #expect {
                try BootableDiskWriter.findBootloader(.aarch64, image: missing)
            } throws: { error in
                let text = "\(error)"
                return text.contains("systemd-bootaa64.efi") && text.contains(missing)
                    && (Architecture.host == .aarch64 || text.contains("systemd-boot-efi:arm64"))
            }
        }
    }

    @Test func garbageIsAClearError() {
        #expect(throws: ExportError.self) { try PartitionTable.parse("{}") }
    }

    @Test func theEntryNamesTheRootByPartitionUUID() throws {
        let arguments = BootLoaderEntry.portable(["root=/dev/vda1", "rw", "console=ttyS0"], rootPartitionUUID: "0F1C3B0E-AA")
        #expect(arguments == ["root=PARTUUID=0f1c3b0e-aa", "rw", "console=ttyS0"])
        let entry = BootLoaderEntry(title: "demo (localhost/x:1)", hasInitrd: true, kernelArguments: arguments)
        #expect(try entry.entryConf() == "title demo (localhost/x:1)\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTUUID=0f1c3b0e-aa rw console=ttyS0\n")
        #expect(entry.loaderConf == "default podman-bootc.conf\ntimeout 0\n")
    }

    @Test func controlCharactersNeverReachTheEntry() throws {
        let entry = BootLoaderEntry(title: "x\ninitrd /evil", hasInitrd: false, kernelArguments: ["quiet\ninitrd /evil"])
        #expect(throws: ExportError.unsafeKernelArgument("quiet\ninitrd /evil")) { try entry.entryConf() }
        let titled = BootLoaderEntry(title: "x\ninitrd /evil", hasInitrd: false, kernelArguments: ["quiet"])
        #expect(try titled.entryConf().split(separator: "\n").count == 3)
    }

    @Test func containerDiskNamesAndLabels() throws {
        #expect(ContainerDiskImage.isValidDiskName("demo.qcow2"))
        #expect(!ContainerDiskImage.isValidDiskName("../x"))
        #expect(!ContainerDiskImage.isValidDiskName("-x"))
        #expect(ContainerDiskImage.labelValue("localhost/a \"b\"\\\nc") == #""localhost/a \"b\"\\?c""#)
    }
}

@Suite struct GrubConfigurationTests {
    @Test func argumentsAreQuotedAndTheESPIsFoundByItsVolumeID() throws {
        let text = try GrubConfiguration(hasInitrd: true, kernelArguments: ["root=PARTUUID=abc", "rw", "x=a;b $c"], volumeID: "1a2b3c4d").text()
        #expect(text == """
            set timeout=0
            search --no-floppy --fs-uuid --set=root 1A2B-3C4D
            linux /vmlinuz 'root=PARTUUID=abc' 'rw' 'x=a;b $c'
            initrd /initrd.img
            boot

            """)
        #expect(throws: ExportError.self) { try GrubConfiguration(hasInitrd: false, kernelArguments: ["a'b"], volumeID: "1").text() }
        #expect(throws: ExportError.self) { try GrubConfiguration(hasInitrd: false, kernelArguments: ["a\nb"], volumeID: "1").text() }
    }
}
