// Warm start without root: the warm-or-cold decision as a value, a damaged state refused
// before QEMU starts, a failed identity step thrown away for a cold boot, and the template's
// throwaway identity (against fakes of libvirt and the guest).

import BootcCore
@testable import BootcPipeline
import Foundation
import Host
import Installer
import PipelineFakes
import Testing

@Suite struct WarmStartPlanTests {
    static let image = "localhost/test-image:latest"
    static let state = WarmStateManifest(
        inputs: WarmStateInputs(diskKey: "d", user: "root", cpus: 2, memoryMiB: 2048, architecture: .x86_64, accelerator: .tcg,
                                domainShapeXML: "<domain/>", qemuVersion: 1, libvirtVersion: 1, toolVersion: "t"),
        stateBytes: 1, stateSHA256: "", templateName: "t", kernelArguments: [], oemStrings: [], credentialNames: [],
        hasNVRAM: false, created: Date(timeIntervalSince1970: 0))

    // MARK: The decision

    @Test func aReadyStateIsRestoredOrReportedByCacheWarm() {
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto, state: Self.state)) == .restore(Self.state))
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .restoreOnly, state: Self.state)) == .restore(Self.state))
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .saveOnly, state: Self.state)) == .alreadyWarm(key: Self.state.key))
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .off, state: Self.state)) == .cold(notice: nil))
    }

    @Test func aStateIsSavedOnlyWhenTheShapeIsBootedAgain() {
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto)) == .cold(notice: nil), "a disk's first boot saves nothing")
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto, bootedBefore: true)) == .coldThenSave)
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto, stateExisted: true)) == .coldThenSave)
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto, emulatedArchitecture: true)) == .coldThenSave)
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .saveOnly)) == .coldThenSave)
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .restoreOnly, bootedBefore: true)) == .cold(notice: nil), "dev never saves")
        // A kept VM is never a template (its own reboots would bring the throwaway identity back).
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto, bootedBefore: true, kept: true)) == .cold(notice: nil))
        #expect(WarmStartPlan.decide(WarmStartFacts(mode: .auto, state: Self.state, kept: true)) == .restore(Self.state))
    }

    @Test func whatCannotBeSavedBootsCold() {
        for facts in [WarmStartFacts(mode: .auto, cloudInitSeed: true, state: Self.state),
                      WarmStartFacts(mode: .auto, remoteHost: true, state: Self.state),
                      WarmStartFacts(mode: .auto, network: .none, state: Self.state),
                      // A TPM's identity would be every clone's: never restored, never saved.
                      WarmStartFacts(mode: .auto, state: Self.state, tpm: true),
                      WarmStartFacts(mode: .auto, bootedBefore: true, tpm: true)] {
            #expect(WarmStartPlan.decide(facts) == .cold(notice: nil))
            #expect(!facts.cacheMatters, "the cache is not even looked at")
        }
        guard case .cold(let notice?) = WarmStartPlan.decide(WarmStartFacts(mode: .auto, sharedFolders: true, state: Self.state)) else {
            Issue.record("-v folders boot cold, with a notice")
            return
        }
        #expect(notice.contains("-v"))
    }

    // MARK: Against fakes

    func launch(_ world: FakeWorld, name: String? = nil, removeOnExit: Bool = true) async throws -> LaunchResult {
        world.runner.addImage(Self.image)
        var options = VMOptions(removeOnExit: removeOnExit, warmStart: .auto)
        options.name = name
        return try await RunSequence(context: world.context).launch(.reference(Self.image), options)
    }

    /// Boots the shape twice (the second boot is a template) and saves its state.
    func savedState(_ world: FakeWorld) async throws -> WarmStateManifest {
        _ = try await launch(world)
        guard case .booted(let template, let pending) = try await launch(world), let pending else {
            throw FakeError("the second boot is no template")
        }
        _ = try await WarmSave(context: world.context).save(template, pending, session: FakeSession(log: world.log, failures: world.failures),
                                                            giveIdentity: false)
        guard case .ready(let state) = WarmStart(context: world.context).store.lookup(pending.inputs) else {
            throw FakeError("no state saved")
        }
        return state
    }

    @Test func aStateWithOneFlippedByteIsRefusedBeforeQEMUStarts() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let state = try await savedState(world)
        let file = WarmStart(context: world.context).store.files(state).state
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: file)

        let result = try await launch(world, name: "flipped")
        guard case .booted(let vm, _) = result else {
            Issue.record("expected a cold boot, got \(result)")
            return
        }
        #expect(!world.log.all.contains("createTransient flipped incoming"), "QEMU was started for the damaged state: \(world.log.all)")
        #expect(!world.log.all.contains("load flipped"))
        #expect(vm.record.warmState == nil)
    }

    @Test func aRestoreWhoseIdentityStepFailsIsThrownAwayAndBootsCold() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        _ = try await savedState(world)
        // The fake state has no guest agent: the identity step runs over SSH, and fails there.
        world.failures.add("run", FakeError("the guest refused its machine-id"))

        let result = try await launch(world, name: "clone")
        guard case .booted(let vm, _) = result else {
            Issue.record("expected a cold boot, got \(result)")
            return
        }
        let calls = world.log.all
        let restore = try #require(calls.firstIndex(of: "createTransient clone incoming"), "calls: \(calls)")
        let removal = try #require(calls[restore...].firstIndex(of: "remove clone"), "the restored domain was not removed: \(calls)")
        #expect(calls[removal...].contains("createTransient clone"), "no cold boot after it: \(calls)")
        #expect(vm.record.warmState == nil)
    }

    @Test func theTemplateBootsWithAThrowawayIdentityAndEndsWithItsOwn() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        _ = try await launch(world)
        guard case .booted(let template, let pending?) = try await launch(world, name: "template") else {
            Issue.record("the second boot should be a template")
            return
        }
        let folder = world.vms.folder(template.record.id)
        let domain = try #require(world.hypervisor.domain("template"))
        #expect(domain.xml.contains("credentials/template.podman-bootc.ssh-host-key'"), "it boots with the throwaway host key")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("credentials/template.podman-bootc.ssh-host-key").path))
        let templatePin = try String(contentsOf: pending.template.pinnedHostKey, encoding: .utf8)
        #expect(templatePin != (try String(contentsOf: world.vms.pinnedHostKey(template.record.id), encoding: .utf8)))

        let session = try await WarmSave(context: world.context).save(template, pending, session: FakeSession(log: world.log, failures: world.failures))
        #expect(session != nil)
        let state = try #require(WarmStart(context: world.context).store.states(diskKey: pending.inputs.diskKey).first)
        #expect(try String(contentsOf: WarmStart(context: world.context).store.files(state).pinnedHostKey, encoding: .utf8) == templatePin)
        // The throwaway identity is gone from the VM: its keys and its credential files.
        #expect(!FileManager.default.fileExists(atPath: pending.template.folder.path))
        let credentials = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("credentials").path)
        #expect(credentials == ["podman-bootc.ssh-host-key"])
        #expect(world.log.count("run script") == 1, "the VM's own identity, given over the template's SSH login: \(world.log.all)")
    }
}
