// The CLI against fakes: argv parsed once into the pipeline's typed request, and what list,
// cache list and inspect print (golden text and JSON).

import ArgumentParser
@testable import BootcCLI
import BootcCore
import BootcPipeline
import Foundation
import GoldenFiles
import Installer
import PipelineFakes
import Testing

@Suite struct ArgumentTests {
    @Test func runFlagsBecomeOneTypedRequest() throws {
        let command = try RunCommand.parse([
            "--rm", "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", "--memory", "4G", "--cpus", "4", "-u", "dev",
            "--timeout", "10m", "--ssh-timeout", "90s", "--accel", "tcg", "--disk-size", "20G", "--karg", "quiet",
            "--cold", "--name", "ci-1", "localhost/img", "--", "echo", "hi",
        ])
        let request = try command.request()
        #expect(request.target == "localhost/img" && request.command == ["echo", "hi"])
        #expect(request.vm.memoryMiB == 4096 && request.vm.cpus == 4 && request.vm.user.name == "dev")
        #expect(request.vm.forwards.map(\.description) == ["127.0.0.1:8080->80/tcp", "127.0.0.1:5353->53/udp"])
        #expect(request.vm.accelerator == .tcg && request.vm.sshTimeout == .seconds(90) && request.vm.warmStart == .off)
        #expect(request.vm.disk.diskSize == ByteSize(parsing: "20G") && request.vm.disk.kernelArguments == ["quiet"])
        #expect(request.vm.name == "ci-1" && request.vm.removeOnExit)
    }

    @Test(arguments: [
        ["--memory", "1", "img"], ["--cpus", "0", "img"], ["--timeout", "soon", "img"], ["-p", "+80:80", "img"],
        ["--name", "../x", "img"], ["-u", "Root", "img"], ["--rm", "-B", "img"], ["--artifact", "/x", "img"],
        ["--accel", "xen", "img"], ["--disk-size", "lots", "img"], ["--karg", "a b", "img"],
    ])
    func badValuesAreUsageErrors(_ argv: [String]) {
        #expect(throws: (any Error).self) { try RunCommand.parse(argv) }
    }

    /// $PODMAN_BOOTC_INSTALLER is the default an admin or CI sets; --installer still wins.
    @Test func theInstallerDefaultComesFromTheEnvironment() throws {
        #expect(try InstallerChoice.resolve(nil, environment: [:]) == .auto)
        #expect(try InstallerChoice.resolve(nil, environment: ["PODMAN_BOOTC_INSTALLER": ""]) == .auto)
        #expect(try InstallerChoice.resolve(nil, environment: ["PODMAN_BOOTC_INSTALLER": "direct"]) == .direct)
        #expect(try InstallerChoice.resolve(.bootc, environment: ["PODMAN_BOOTC_INSTALLER": "direct"]) == .bootc)
        #expect(throws: ValidationError.self) { try InstallerChoice.resolve(nil, environment: ["PODMAN_BOOTC_INSTALLER": "Direct"]) }
        #expect(try RunCommand.parse(["--installer", "direct", "img"]).disk.choices.installer == .direct)
    }

    @Test func cacheWarmSharesTheVMShapeOptions() throws {
        let command = try CacheWarm.parse(["--cpus", "3", "--memory", "1536M", "-u", "dev", "img"])
        let options = try command.shape.vmOptions(disk: command.disk.choices, libvirtURI: nil, removeOnExit: true)
        #expect(options.cpus == 3 && options.memoryMiB == 1536 && options.user.name == "dev")
    }
}

@Suite struct OutputTests {
    static let created = Date(timeIntervalSince1970: 1_800_000_000)

    /// Two VMs (one running, one stopped) and one cached disk, at fixed times.
    func seeded() throws -> FakeWorld {
        let world = try FakeWorld()
        try world.context.locations.prepare()
        for (index, name) in ["web", "db"].enumerated() {
            var record = VMRecord(id: "a1b2c3d4e5f\(index)", name: name, domainName: name, image: "localhost/app:latest",
                                  imageID: String(repeating: "ab", count: 32), diskKey: "k\(String(repeating: "0", count: 63))",
                                  architecture: .x86_64, accelerator: .tcg, cpus: 2, memoryMiB: 2048, sshPort: 40022 + index,
                                  sshUser: "root", removeOnExit: false, ownerPID: nil, created: Self.created.addingTimeInterval(Double(index)))
            record.libvirtURI = "test:///fake"
            try world.vms.create(record)
            let xml = "<domain><metadata><podman-bootc:vm><podman-bootc:id>\(record.id)</podman-bootc:id></podman-bootc:vm></metadata></domain>"
            world.hypervisor.add(FakeDomain(name: name, xml: xml, active: index == 0, persistent: true, hypervisor: world.hypervisor))
        }
        let cache = DiskCache(directory: world.context.locations.diskCache)
        let key = "k\(String(repeating: "0", count: 63))"
        let partial = try cache.makePartial(for: key)
        _ = FileManager.default.createFile(atPath: partial.appendingPathComponent("disk.raw").path, contents: nil)
        let inputs = CacheKeyInputs(imageID: String(repeating: "ab", count: 32), imageDigest: nil, reference: "localhost/app:latest",
                                    installer: .direct, diskSize: 10 << 30, architecture: .x86_64)
        try cache.commit(partial: partial, key: key, manifest: CacheManifest(
            key: key, inputs: inputs, kernelVersion: "6.1.0",
            artifacts: BootArtifacts(method: .directKernel, disk: partial.appendingPathComponent("disk.raw").path, kernel: nil, initrd: nil, kernelArguments: []),
            created: Self.created))
        return world
    }

    func output(_ world: FakeWorld, _ command: some PipelineCommand) async throws -> String {
        try await command.run(world.context)
        // Paths and allocated sizes depend on the machine, not on the command.
        return world.captured.string.replacingOccurrences(of: world.root.path, with: "$ROOT")
            .replacingOccurrences(of: #""allocatedBytes" : \d+"#, with: #""allocatedBytes" : N"#, options: .regularExpression)
    }

    @Test func listShowsRunningVMsAndAllWithA() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        try Golden.check(try await output(world, try ListCommand.parse([])), "list.txt")
    }

    @Test func listAllAsJSON() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        try Golden.check(try await output(world, try ListCommand.parse(["-a", "--format", "json"])), "list-all.json")
    }

    @Test func listQuietPrintsIDs() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        #expect(try await output(world, try ListCommand.parse(["-aq"])) == "a1b2c3d4e5f0\na1b2c3d4e5f1\n")
    }

    @Test func cacheListAsTextAndJSON() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        try Golden.check(try await output(world, try CacheList.parse([])), "cache-list.txt")
        let json = try seeded()
        defer { json.cleanUp() }
        try Golden.check(try await output(json, try CacheList.parse(["--format", "json"])), "cache-list.json")
    }

    @Test func inspectByIDPrefix() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        try Golden.check(try await output(world, try InspectCommand.parse(["a1b2c3d4e5f1"])), "inspect.json")
    }

    @Test func rmRemovesDomainAndFolderAndKeepsGoingAfterAFailure() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        await #expect(throws: ExitCode.self) { try await RmCommand.parse(["nope", "db"]).run(world.context) }
        #expect(world.captured.string == "db\n")
        #expect(world.vms.all().map(\.name) == ["web"])
        #expect(world.hypervisor.domain("db") == nil)
    }

    /// A domain of the VM's name that podman-bootc did not define (another id, or none) is
    /// never stopped, started or removed, and `rm -f` keeps the record that names it.
    @Test func aDomainThatIsNotTheRecordsIsLeftAlone() async throws {
        let world = try seeded()
        defer { world.cleanUp() }
        world.hypervisor.drop("web")
        world.hypervisor.add(FakeDomain(name: "web", xml: "<domain><name>web</name></domain>", active: true, persistent: true, hypervisor: world.hypervisor))
        await #expect(throws: ExitCode.self) { try await RmCommand.parse(["-f", "web"]).run(world.context) }
        await #expect(throws: (any Error).self) { try await StopCommand.parse(["-f", "web"]).run(world.context) }
        #expect(world.hypervisor.domain("web")?.active == true)
        #expect(world.vms.all().map(\.name).contains("web"))
        #expect(!world.hypervisor.log.all.contains { $0.hasSuffix(" web") && ($0.hasPrefix("remove") || $0.hasPrefix("destroy") || $0.hasPrefix("shutdown")) })
        let list = try await output(world, try ListCommand.parse(["-a", "--format", "json"]))
        #expect(list.contains("\"missing\""), "\(list)")
    }
}

@Suite struct RunCommandTests {
    @Test func dryRunAnswersAsTextAndJSONAndChangesNothing() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage("localhost/app:latest")
        try await RunCommand.parse(["--dry-run", "localhost/app:latest"]).run(world.context)
        #expect(world.captured.string == "install (direct): planned by the fake\n")
        let json = try FakeWorld()
        defer { json.cleanUp() }
        try await RunCommand.parse(["--dry-run", "--format", "json", "quay.io/fedora/fedora-bootc:42"]).run(json.context)
        #expect(json.captured.string.contains(#""reason" : "quay.io/fedora/fedora-bootc:42 is not in rootful podman storage: run would pull it, then install its disk""#),
                "output: \(json.captured.string)")
        #expect(world.vms.all().isEmpty && world.hypervisor.domains.isEmpty)
    }

    @Test func aRmRunOfOneCommandBootsRunsAndRemoves() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage("localhost/app:latest")
        try await RunCommand.parse(["--rm", "--cold", "localhost/app:latest", "--", "echo", "it's"]).run(world.context)
        #expect(world.log.all.contains(#"execute echo 'it'\''s'"#), "calls: \(world.log.all)")
        #expect(world.vms.all().isEmpty && world.hypervisor.domains.isEmpty)
    }

    @Test func aBackgroundRunPrintsTheNameAndKeepsTheVM() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage("localhost/app:latest")
        try await RunCommand.parse(["-B", "--cold", "--name", "bg", "localhost/app:latest"]).run(world.context)
        #expect(world.captured.string == "bg\n")
        #expect(world.vms.all().map(\.name) == ["bg"] && world.hypervisor.domain("bg") != nil)
    }
}
