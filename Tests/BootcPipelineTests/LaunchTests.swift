// The boot stage against fakes: what a launch leaves behind when a step fails, port retry,
// and the warm-start decision.

import BootcCore
@testable import BootcPipeline
import PipelineFakes
import Foundation
import Host
import Installer
import Testing

@Suite struct LaunchTests {
    static let image = "localhost/test-image:latest"

    func launch(_ world: FakeWorld, name: String? = nil, warm: WarmMode = .auto, removeOnExit: Bool = true) async throws -> LaunchResult {
        world.runner.addImage(Self.image)
        var options = VMOptions(removeOnExit: removeOnExit, warmStart: warm)
        options.name = name
        return try await RunSequence(context: world.context).launch(.reference(Self.image), options)
    }

    @Test func aFailedStartRemovesTheVMFolder() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.failures.add("createTransient", FakeError("QEMU refused to start"))
        await #expect(throws: FakeError.self) { try await launch(world, warm: .off) }
        #expect(world.vms.all().isEmpty)
        let folders = try FileManager.default.contentsOfDirectory(atPath: world.context.locations.vms.path)
        #expect(folders.isEmpty, "left behind: \(folders)")
    }

    @Test func aFailedPersistentStartRemovesItsDefinitionAndFolder() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.failures.add("start", FakeError("no memory"))
        await #expect(throws: FakeError.self) { try await launch(world, name: "kept", warm: .off, removeOnExit: false) }
        #expect(world.log.all.contains("remove kept"), "calls: \(world.log.all)")
        #expect(world.hypervisor.domain("kept") == nil)
        #expect(world.vms.all().isEmpty)
    }

    @Test func aTakenPortIsRetriedOnAnotherPort() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.failures.add("createTransient", HostPortTaken(detail: "Could not set up host forwarding rule"), times: 2)
        let vm = try #require(try await launch(world, warm: .off).vm)
        #expect(world.log.count("createTransient") == 3)
        #expect(vm.record.sshPort > 0)
        #expect(world.vms.load(vm.record.id)?.sshPort == vm.record.sshPort, "the record holds the port that worked")
    }

    @Test func portRetryGivesUpAfterThreeAttempts() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.failures.add("createTransient", HostPortTaken(detail: "taken"), times: 3)
        await #expect(throws: HostPortTaken.self) { try await launch(world, warm: .off) }
        #expect(world.log.count("createTransient") == DomainStarter.portAttempts)
        #expect(world.vms.all().isEmpty)
    }

    @Test func aNameInUseFailsBeforeAnythingIsCreated() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        _ = try await launch(world, name: "taken", warm: .off, removeOnExit: false)
        await #expect(throws: VMError.self) { try await launch(world, name: "taken", warm: .off) }
        #expect(world.vms.all().count == 1)
    }

    /// A cold boot saves a state; the next launch restores it. When loading the state fails,
    /// the restore's domain is removed, the state discarded, and the VM boots cold.
    @Test func aFailedRestoreFallsBackToAColdBootAndRemovesItsDomain() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        // The first boot of a disk saves nothing (nothing may ever restore it); the second does.
        let first = try await launch(world)
        guard case .booted(_, nil) = first else {
            Issue.record("the first launch should boot cold and save nothing: \(first)")
            return
        }
        let second = try await launch(world)
        guard case .booted(let template, let pending?) = second else {
            Issue.record("the second launch should boot cold with a state to save: \(second)")
            return
        }
        #expect(try await save(template, pending, in: world))

        // The state is usable: the next launch restores it.
        let restored = try await launch(world)
        guard case .restored(let vm) = restored else {
            Issue.record("expected a restore, got \(restored); calls: \(world.log.all)")
            return
        }
        #expect(vm.record.warmState == pending.inputs.key)
        #expect(world.log.all.contains("run script"), "the restored guest gets its identity")

        // Now the state no longer loads: the attempt's domain goes, the VM boots cold.
        world.failures.add("load", FakeError("QEMU rejected the state"))
        let fallback = try await launch(world, name: "fallback")
        guard case .booted(let cold, let coldSave) = fallback else {
            Issue.record("expected a cold boot after the failed restore, got \(fallback)")
            return
        }
        let calls = world.log.all
        let attempt = try #require(calls.firstIndex(of: "createTransient fallback incoming"), "calls: \(calls)")
        let removal = try #require(calls[attempt...].firstIndex(of: "remove fallback"), "the failed restore's domain was not removed: \(calls)")
        #expect(calls[removal...].contains("createTransient fallback"), "no cold boot after the removal: \(calls)")
        #expect(cold.record.warmState == nil)
        #expect(coldSave != nil, "the cold boot saves a new state")
        let store = WarmStart(context: world.context).store
        #expect(store.states(diskKey: pending.inputs.diskKey).isEmpty, "the unusable state was discarded")
    }

    /// The save step, as `cache warm` runs it; true when a state is ready afterwards.
    func save(_ vm: LaunchedVM, _ pending: PendingWarmSave, in world: FakeWorld) async throws -> Bool {
        _ = try await WarmSave(context: world.context).save(vm, pending, session: FakeSession(log: world.log, failures: world.failures),
                                                            giveIdentity: false)
        if case .ready = WarmStart(context: world.context).store.lookup(pending.inputs) { return true }
        return false
    }

    @Test func cacheWarmWithAReadyStateBootsNothing() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        guard case .booted(let template, let pending?) = try await launch(world, warm: .saveOnly) else {
            Issue.record("no cold boot")
            return
        }
        #expect(try await save(template, pending, in: world))
        let before = world.log.count("createTransient")
        let result = try await launch(world, warm: .saveOnly)
        guard case .alreadyWarm(let key) = result else {
            Issue.record("expected already warm, got \(result)")
            return
        }
        #expect(key == pending.inputs.key)
        #expect(world.log.count("createTransient") == before)
        #expect(world.vms.all().count == 1, "only the template remains: nothing was created")
    }

    @Test func aUserLaunchesWithoutRoot() async throws {
        var world = try FakeWorld()
        defer { world.cleanUp() }
        world = world.asUser()
        let vm = try #require(try await launch(world, warm: .off).vm)
        #expect(world.log.all.contains("install \(Self.image)"), "calls: \(world.log.all)")
        #expect(world.log.all.contains { $0.hasPrefix("createTransient") }, "calls: \(world.log.all)")
        #expect(vm.record.sshPort > 0)
    }

    @Test func aUserPublishingAPrivilegedPortIsStoppedBeforeAnythingHappens() async throws {
        let world = try FakeWorld().asUser()
        defer { world.cleanUp() }
        world.runner.addImage(Self.image)
        var options = VMOptions(removeOnExit: true, warmStart: .off)
        options.forwards = [PortForward(hostPort: 80, guestPort: 80)]
        let error = await #expect(throws: VMError.self) { try await RunSequence(context: world.context).launch(.reference(Self.image), options) }
        #expect(error.map { "\($0)" }?.contains("host port 80 is privileged") == true, "\(String(describing: error))")
        #expect(!world.log.all.contains { $0.hasPrefix("install") || $0.hasPrefix("createTransient") }, "calls: \(world.log.all)")
    }
}

extension FakeWorld {
    func asUser() -> FakeWorld {
        var copy = self
        copy.context.isRoot = false
        return copy
    }
}

@Suite struct LiveUpdateRulesTests {
    func change(_ path: String, _ kind: ImageChange.Kind = .changed, _ type: TreeEntry.Kind = .file, mode: UInt32 = 0o644) -> ImageChange {
        ImageChange(path: path, kind: kind, entry: kind == .removed ? nil : TreeEntry(kind: type, mode: mode), staged: type == .file ? "/staged" + path : nil)
    }

    @Test func plainFilesApplyLiveAndUnitsRestart() {
        let set = ImageChangeSet(changes: [
            change("/etc/app.conf"),
            change("/etc/systemd/system/app.service"),
            change("/etc/systemd/system/multi-user.target.wants/new.service", .added, .symlink),
            change("/usr/lib/systemd/system/old.service", .removed),
            change("/usr/bin/app", mode: 0o755),
            change("/opt/gone", .removed),
        ], method: .layers, unitsRunning: ["/usr/bin/app": ["app.service", "worker.service"]])
        let plan = LiveUpdateRules(restartUnits: ["web.service"]).plan(set)
        #expect(!plan.reboots)
        #expect(plan.operations.first == .remove(path: "/usr/lib/systemd/system/old.service"))
        #expect(plan.operations.contains(.file(path: "/etc/app.conf", source: "/staged/etc/app.conf", mode: 0o644, uid: 0, gid: 0)))
        #expect(plan.reloadSystemd)
        #expect(plan.stop == ["old.service"])
        #expect(plan.tryRestart == ["app.service", "worker.service"])
        #expect(plan.start == ["new.service"])
        #expect(plan.restart == ["web.service"])
        #expect(plan.systemdCommand == "systemctl daemon-reload && systemctl stop -- old.service && systemctl try-restart -- app.service worker.service"
                + " && systemctl restart -- web.service && systemctl start -- new.service")
    }

    @Test func bootOnlyChangesReboot() {
        for path in ["/usr/lib/modules/6.1.0/vmlinuz", "/boot/initrd.img", "/etc/fstab", "/usr/lib/bootc/kargs.d/10.toml",
                     "/usr/lib/systemd/systemd", "/usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so",
                     "/etc/systemd/system-generators/mine"] {
            let plan = LiveUpdateRules().plan(ImageChangeSet(changes: [change("/etc/app.conf"), change(path)], method: .layers))
            #expect(plan.reboots && plan.operations.isEmpty, "\(path)")
        }
        let early = LiveUpdateRules().plan(ImageChangeSet(changes: [change("/etc/systemd/system/early.service")], method: .layers, earlyBootUnits: ["early.service"]))
        #expect(early.reboots)
        let named = LiveUpdateRules(rebootGlobs: ["/etc/my-app/**", "/usr/bin/my-*"])
        #expect(named.plan(ImageChangeSet(changes: [change("/etc/my-app/boot/x.conf")], method: .layers)).reboots)
        #expect(named.plan(ImageChangeSet(changes: [change("/usr/bin/my-tool")], method: .layers)).reboots)
        #expect(!named.plan(ImageChangeSet(changes: [change("/etc/my-application.conf")], method: .layers)).reboots)
    }

    @Test func unitNamesAreCheckedBeforeTheyReachACommand() {
        #expect(LiveUpdateRules.isUnitName("getty@tty1.service"))
        #expect(!LiveUpdateRules.isUnitName("x.service; rm -rf /"))
        #expect(!LiveUpdateRules.isUnitName("no-type"))
        let plan = LiveUpdateRules(restartUnits: ["ok.service", "bad name.service"]).plan(ImageChangeSet(changes: [change("/etc/a")], method: .layers))
        #expect(plan.restart == ["ok.service"])
    }
}

/// A VM on a remote host (qemu+ssh://), against the fakes: where its files go.
@Suite struct RemoteLaunchTests {
    static let uri = "qemu+ssh://builder@hv1.example:2222/session?keyfile=/keys/hv1"

    func launch(_ world: FakeWorld, removeOnExit: Bool = false) async throws -> LaunchResult {
        world.runner.addImage(LaunchTests.image)
        var options = VMOptions(removeOnExit: removeOnExit, libvirtURI: Self.uri, warmStart: .auto)
        options.name = "remote-\(UUID().uuidString.prefix(6).lowercased())"
        return try await RunSequence(context: world.context).launch(.reference(LaunchTests.image), options)
    }

    @Test func everyFileTheDomainNamesIsAVolumeOnTheRemoteHost() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let vm = try #require(try await launch(world).vm)
        let xml = try #require(world.hypervisor.domain(vm.record.name)).xml
        let folder = "/home/builder/.local/share/libvirt/images/podman-bootc"
        #expect(world.log.all.contains("home builder@hv1.example"), "the pool of a session daemon is in the SSH user's home")
        #expect(xml.contains("<source file='\(folder)/vm-\(vm.record.id).overlay.qcow2'/>"), "\(xml)")
        #expect(xml.contains("file='\(folder)/vm-\(vm.record.id).credential."), "secret credentials travel as volumes")
        #expect(xml.contains("<log file='\(folder)/vm-\(vm.record.id).console.log'"))
        #expect(!xml.contains(world.context.locations.root.path), "a local path in the remote domain: \(xml)")
        #expect(!xml.contains("<nvram>") && !xml.contains("agent.out"))
        let pool = try #require(world.hypervisor.pool)
        let key = try #require(vm.record.diskKey)
        let diskUploads = pool.uploads.filter { $0.hasPrefix("disk-") }
        #expect(diskUploads.last == RemoteVolumes.complete(key), "the marker goes last: \(pool.uploads)")
        let marker = try #require(try await pool.read(RemoteVolumes.complete(key), from: 0, limit: 256))
        let published = try #require(RemoteVolumes.upload(inMarker: String(decoding: marker, as: UTF8.self), key: key))
        #expect(pool.uploads.contains(RemoteVolumes.disk(key, upload: published.name)), "the marker names this upload's disk")
        // The local folder keeps the keys and the record; the credentials moved to the host.
        let credentials = try FileManager.default.contentsOfDirectory(atPath: world.vms.folder(vm.record.id).appendingPathComponent("credentials").path)
        #expect(credentials.isEmpty, "\(credentials)")
        let login = try world.context.guestLogin(for: vm.record)
        #expect(login.via == JumpHost(host: "hv1.example", port: 2222, user: "builder",
                                      keyFiles: ["/keys/hv1"] + login.via!.keyFiles.dropFirst(), knownHosts: login.via!.knownHosts))
        #expect(login.via!.keyFiles.count == 4 && login.via!.knownHosts.hasSuffix("/.ssh/known_hosts"))
    }

    @Test func theDiskIsUploadedOncePerHostAndKey() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        _ = try await launch(world)
        let first = try #require(world.hypervisor.pool).uploads.filter { $0.hasPrefix("disk-") }
        _ = try await launch(world)
        let second = try #require(world.hypervisor.pool).uploads.filter { $0.hasPrefix("disk-") }
        #expect(!first.isEmpty && first == second, "uploaded again: \(second)")
    }

    /// Each upload writes volumes of its own name; the marker names the one that finished
    /// (an earlier version's marker, the key alone, names volumes without an upload name).
    @Test func theMarkerNamesTheUploadThatFinished() {
        let key = String(repeating: "a", count: 64)
        #expect(RemoteVolumes.upload(inMarker: key, key: key) == .unnamed)
        #expect(RemoteVolumes.upload(inMarker: "\(key) 0123456789abcdef", key: key) == .named("0123456789abcdef"))
        #expect(RemoteVolumes.upload(inMarker: "\(key) ../../etc/passwd", key: key) == nil)
        #expect(RemoteVolumes.upload(inMarker: "another 0123456789abcdef", key: key) == nil)
        #expect(RemoteVolumes.disk(key, upload: "0123456789abcdef") == "disk-\(key)-0123456789abcdef.raw")
        #expect(RemoteVolumes.disk(key) == "disk-\(key).raw")
    }

    @Test func aKilledRunsRemoteVolumesGoWhenItsHostIsNextUsed() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        // A --rm VM whose run was killed: its record without a live owner, its volumes on the host.
        var abandoned = try #require(try await launch(world).vm).record
        abandoned.id = "abcdef123456"
        abandoned.name = "abandoned"
        abandoned.removeOnExit = true
        try FileManager.default.createDirectory(at: world.vms.folder(abandoned.id), withIntermediateDirectories: true)
        try world.vms.save(abandoned)
        let pool = try #require(world.hypervisor.pool)
        _ = try await pool.createOverlay(RemoteVolumes.overlay(abandoned.id), backing: "/pool/disk", capacityBytes: 1)
        _ = try await launch(world)
        #expect(try await pool.volumeNames().contains(RemoteVolumes.overlay(abandoned.id)) == false)
        #expect(world.vms.load(abandoned.id) == nil)
    }

    @Test func aFailedRemoteStartLeavesNoVolumeOfTheVM() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.failures.add("define", FakeError("QEMU refused to start"))
        await #expect(throws: FakeError.self) { try await launch(world) }
        let left = try await #require(world.hypervisor.pool).volumeNames().filter { $0.hasPrefix("vm-") }
        #expect(left.isEmpty, "\(left)")
        #expect(world.vms.all().isEmpty)
    }

    @Test func aHostThatCannotBeReachedOverSSHFailsBeforeAnyUpload() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.failures.add("home", FakeError("host key differs"))
        await #expect(throws: FakeError.self) { try await launch(world) }
        #expect(world.hypervisor.pool == nil)
        #expect(world.vms.all().isEmpty)
    }
}

/// Which local libvirt daemon a URI names decides who confines a -v folder's virtiofsd.
@Suite struct LocalDaemonTests {
    @Test func urisAreClassifiedByTheirParts() {
        typealias Daemon = SharedFolderDaemons.LocalDaemon
        #expect(Daemon(uri: "qemu:///system") == .system)
        #expect(Daemon(uri: "qemu+unix:///system") == .system)
        #expect(Daemon(uri: "qemu:///session") == .session)
        #expect(Daemon(uri: "qemu+unix:///session?socket=/run/user/1000/libvirt/libvirt-sock") == .session)
        #expect(Daemon(uri: "qemu+ssh://root@host/system") == nil)
        #expect(Daemon(uri: "hostalias") == nil)
        #expect(Daemon(uri: "qemu:///embed?root=/tmp/x") == nil)
    }
}
