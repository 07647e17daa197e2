// Fakes of the pipeline's ports: a hypervisor, a guest shell, a disk provider and a process
// runner that remember what they were asked and fail where a test says so.

import BootcCore
import BootcPipeline
import Foundation
import Host
import Installer
import Invariance
import Logging
import Podman
import Synchronization

/// Calls, in order, across all fakes of one test: the order is what several tests check.
package final class CallLog: Sendable {
    package init() {}
    private let entries = Mutex<[String]>([])
    package func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    package var all: [String] { entries.withLock { $0 } }
    package func count(_ prefix: String) -> Int { all.filter { $0.hasPrefix(prefix) }.count }
}

/// What a fake should fail at, and how often.
package final class Failures: Sendable {
    package init() {}
    private let pending = Mutex<[String: [any Error]]>([:])
    /// The next `times` calls named `call` throw `error`.
    package func add(_ call: String, _ error: any Error, times: Int = 1) {
        pending.withLock { $0[call, default: []] += Array(repeating: error, count: times) }
    }
    package func check(_ call: String) throws {
        let error: (any Error)? = pending.withLock { pending in
            guard var list = pending[call], !list.isEmpty else { return nil }
            let first = list.removeFirst()
            pending[call] = list
            return first
        }
        if let error { throw error }
    }
}

package struct FakeError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

package final class FakeHypervisor: Hypervisor, @unchecked Sendable {
    package let log: CallLog
    package let failures: Failures
    package let lock = NSLock()
    package var domains: [String: FakeDomain] = [:]

    package init(log: CallLog, failures: Failures) {
        self.log = log
        self.failures = failures
    }

    package func connect(uri: String?) async throws -> any HypervisorConnection {
        log.add("connect")
        try failures.check("connect")
        return FakeConnection(hypervisor: self, uri: uri ?? "test:///fake")
    }

    /// The one storage pool of this fake daemon (made at the first request for it).
    package var pool: FakeStoragePool? { lock.withLock { storage } }
    private var storage: FakeStoragePool?

    func pool(orMake make: () async throws -> String) async rethrows -> FakeStoragePool {
        if let existing = pool { return existing }
        let made = FakeStoragePool(folder: try await make())
        lock.withLock { storage = made }
        return made
    }

    package func domain(_ name: String) -> FakeDomain? { lock.withLock { domains[name] } }

    package func add(_ domain: FakeDomain) { lock.withLock { domains[domain.name] = domain } }
    package func drop(_ name: String) { _ = lock.withLock { domains.removeValue(forKey: name) } }
}

package struct FakeConnection: HypervisorConnection {
    package let hypervisor: FakeHypervisor
    package let uri: String

    package func versions() async throws -> (hypervisor: UInt, library: UInt) { (7_002_000, 9_000_000) }

    package func domain(named name: String) async throws -> (any VirtualMachineDomain)? { hypervisor.domain(name) }

    package func createTransient(xml: String, autoDestroy: Bool) async throws -> any VirtualMachineDomain {
        let name = Self.name(in: xml)
        hypervisor.log.add("createTransient \(name)\(xml.contains("-incoming") ? " incoming" : "")")
        try hypervisor.failures.check("createTransient")
        let domain = FakeDomain(name: name, xml: xml, active: true, persistent: false, hypervisor: hypervisor)
        hypervisor.add(domain)
        return domain
    }

    package func define(xml: String) async throws -> any VirtualMachineDomain {
        let name = Self.name(in: xml)
        hypervisor.log.add("define \(name)")
        try hypervisor.failures.check("define")
        let domain = hypervisor.domain(name) ?? FakeDomain(name: name, xml: xml, active: false, persistent: true, hypervisor: hypervisor)
        domain.persistent = true
        domain.xml = xml
        hypervisor.add(domain)
        return domain
    }

    package func offersKVM(for architecture: Architecture) async -> Bool {
        hypervisor.log.add("offersKVM \(architecture.rawValue)")
        return false
    }

    package func storagePool(named name: String, path: @escaping @Sendable () async throws -> String) async throws -> any HostStoragePool {
        hypervisor.log.add("storagePool \(name)")
        try hypervisor.failures.check("storagePool")
        return try await hypervisor.pool(orMake: path)
    }

    package static func name(in xml: String) -> String {
        guard let start = xml.range(of: "<name>"), let end = xml.range(of: "</name>", range: start.upperBound..<xml.endIndex) else { return "?" }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}

package final class FakeDomain: VirtualMachineDomain, @unchecked Sendable {
    package let name: String
    package var xml: String
    package var active: Bool
    package var persistent: Bool
    package let hypervisor: FakeHypervisor

    package init(name: String, xml: String, active: Bool, persistent: Bool, hypervisor: FakeHypervisor) {
        self.name = name
        self.xml = xml
        self.active = active
        self.persistent = persistent
        self.hypervisor = hypervisor
    }

    private func call(_ what: String) throws {
        hypervisor.log.add("\(what) \(name)")
        try hypervisor.failures.check(what)
    }

    package func isActive() async -> Bool { active }
    package func power() async -> DomainPower { active ? .running : .stopped }
    package func start() async throws {
        try call("start")
        active = true
    }
    package func shutdown() async throws {
        try call("shutdown")
        active = false
    }
    package func destroy() async throws {
        try call("destroy")
        active = false
    }
    package func remove() async throws {
        try call("remove")
        active = false
        hypervisor.drop(name)
    }
    package func xmlDescription() async throws -> String { xml }
    /// The id the domain's XML carries (as libvirt gives back the metadata element).
    package func metadata() async -> String? {
        guard let start = xml.range(of: "<podman-bootc:id>"),
              let end = xml.range(of: "</podman-bootc:id>", range: start.upperBound..<xml.endIndex) else { return nil }
        return "<vm><id>\(xml[start.upperBound..<end.lowerBound])</id></vm>"
    }
    package func saveMachineState(to fd: Int32) async throws {
        try call("save")
        let bytes = Array("fake machine state of \(name)\n".utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
    package func loadMachineState(from fd: Int32) async throws { try call("load") }
    package func resumeGuest() async throws { try call("resume") }
    /// A QEMU guest agent that answers at once: every command exits 0 printing "fake output".
    package func guestAgentCommand(_ json: String, timeoutSeconds: Int32) async throws -> String {
        let command = ["guest-exec-status", "guest-exec", "guest-ping"].first { json.contains("\"\($0)\"") } ?? "?"
        try call("qga \(command)")
        switch command {
        case "guest-exec": return #"{"return":{"pid":42}}"#
        case "guest-exec-status": return #"{"return":{"exited":true,"exitcode":0,"out-data":"ZmFrZSBvdXRwdXQK"}}"#
        default: return #"{"return":{}}"#
        }
    }
    package func attachConsole(input: Int32, output: Int32, escape: UInt8, force: Bool) async throws -> ConsoleOutcome {
        try call("console")
        return .detached
    }
}

package struct FakeGuestShell: GuestShell {
    package let log: CallLog
    package let failures: Failures

    package func connect(_ login: GuestLogin, timeout: Duration) async throws -> any GuestSession {
        log.add("ssh \(login.user)@\(login.port)")
        try failures.check("ssh")
        return FakeSession(log: log, failures: failures)
    }

    package func homeFolder(on jump: JumpHost, timeout: Duration) async throws -> String {
        log.add("home \(jump.user)@\(jump.host)")
        try failures.check("home")
        return "/home/" + jump.user
    }
}

package struct FakeSession: GuestSession {
    package let log: CallLog
    package let failures: Failures

    package init(log: CallLog, failures: Failures) {
        self.log = log
        self.failures = failures
    }

    package func execute(_ commandLine: String, input: Int32, output: Int32, error: Int32, outputLimit: UInt64?) async throws -> Int32 {
        log.add("execute \(commandLine)")
        try failures.check("execute")
        return 0
    }
    package func interactiveShell(term: String) async throws -> Int32 {
        log.add("shell")
        return 0
    }
    package func run(_ commandLine: String, input: Data) async throws -> (status: Int32, output: String) {
        log.add("run script")
        try failures.check("run")
        return (0, "")
    }
    package func download(_ guestPath: String, into folder: ConfinedFolder) async throws -> GuestCopy {
        log.add("download \(guestPath)")
        return GuestCopy(local: URL(fileURLWithPath: folder.path), skippedLinks: 0)
    }
    package func apply(_ operations: [GuestFileOperation]) async throws {
        log.add("apply " + operations.map(\.path).joined(separator: " "))
        try failures.check("apply")
    }
    package func disconnect() async { log.add("disconnect") }
}

/// Disks without installing: a sparse file per request, a manifest that names it.
/// Every image has a kernel and no bootc; building a disk is FakeDisks' job.
package struct FakeImageTrees: ImageTrees {
    package init() {}

    package func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts] {
        sources.map { _ in ImageTreeFacts(kernelVersion: "6.1.0-fake", hasBootc: false, declaresRootFilesystem: false) }
    }

    package func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk {
        throw ImageTreeError(message: "the fake builds no disks")
    }

    package func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet {
        throw ImageTreeError(message: "the fake compares no images")
    }
}

package final class FakeDisks: DiskProvider, @unchecked Sendable {
    package let log: CallLog
    package let folder: URL
    private let lock = NSLock()
    private var installedRequests: [InstallRequest] = []

    package init(log: CallLog, folder: URL) {
        self.log = log
        self.folder = folder
    }

    package var requests: [InstallRequest] { lock.withLock { installedRequests } }

    package func plan(_ request: InstallRequest, connection: String?) async throws -> CachePlan {
        log.add("plan \(request.reference)")
        lock.withLock { installedRequests.append(request) }
        return CachePlan(key: "fake-key", installer: .direct, reuse: false, reason: "planned by the fake", disk: nil)
    }

    package func install(_ request: InstallRequest, connection: String?, progress: ProgressReporter) async throws -> CacheManifest {
        log.add("install \(request.reference)")
        lock.withLock { installedRequests.append(request) }
        return manifest(for: request)
    }

    package func cached(_ key: String) -> CacheManifest? { nil }

    private func manifest(for request: InstallRequest) -> CacheManifest {
        let disk = folder.appendingPathComponent("disk.raw")
        _ = FileManager.default.createFile(atPath: disk.path, contents: nil)
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("vmlinuz").path, contents: Data("kernel".utf8))
        let inputs = CacheKeyInputs(imageID: request.image.id, imageDigest: nil, reference: request.reference, installer: .direct,
                                    diskSize: 10 << 30, architecture: request.architecture)
        return CacheManifest(key: inputs.key, inputs: inputs, kernelVersion: "6.1.0",
                             artifacts: BootArtifacts(method: .directKernel, disk: disk.path, kernel: folder.appendingPathComponent("vmlinuz").path,
                                                      initrd: nil, kernelArguments: ["root=/dev/vda1"]),
                             created: Date(timeIntervalSince1970: 1_800_000_000))
    }
}

/// Programs as the pipeline runs them: podman inspect answers from `images`, podman build
/// records and adds the image, qemu-img create makes the overlay file.
package final class FakeRunner: ProcessRunner, @unchecked Sendable {
    package let log: CallLog
    private let lock = NSLock()
    private var images: [String: ImageInspection] = [:]
    private var inspected: [String] = []

    package init(log: CallLog) { self.log = log }

    /// Every `podman image inspect` asked, in order (kept out of `log`: a dry run may inspect).
    package var inspections: [String] { lock.withLock { inspected } }

    package func addImage(_ reference: String, id: String = String(repeating: "ab", count: 32), labels: [String: String] = [:],
                          architecture: String = "amd64") {
        lock.withLock { images[reference] = ImageInspection(id: id, architecture: architecture, os: "linux", labels: labels) }
    }

    package func run(_ argv: [String], stdin: String?, stderr: StandardErrorHandling) async throws -> ProcessResult {
        switch Array(argv.prefix(3)) {
        case ["podman", "image", "inspect"]:
            let reference = argv.last ?? ""
            guard let image = lock.withLock({ inspected.append(reference); return images[reference] }) else {
                return ProcessResult(status: 125, standardOutput: "", standardError: "Error: \(reference): image not known")
            }
            let json = String(decoding: try JSONEncoder().encode([image]), as: UTF8.self)
            return ProcessResult(status: 0, standardOutput: json, standardError: "")
        default: break
        }
        log.add(argv.joined(separator: " "))
        if argv.starts(with: ["podman", "build"]), let tag = argv.firstIndex(of: "--tag").map({ argv[$0 + 1] }) {
            let hash = argv.first { $0.hasPrefix("\(RebuildDecision.label)=") }.map { String($0.dropFirst(RebuildDecision.label.count + 1)) }
            addImage(tag, labels: hash.map { [RebuildDecision.label: $0] } ?? [:])
        }
        if argv.starts(with: ["qemu-img", "create"]), let path = argv.last {
            _ = FileManager.default.createFile(atPath: path, contents: Data("qcow2 overlay".utf8))
        }
        return ProcessResult(status: 0, standardOutput: "", standardError: "")
    }

    package func pipe(_ producer: [String], into consumer: [String]) async throws {
        log.add("pipe \(producer.joined(separator: " ")) | \(consumer.joined(separator: " "))")
    }
}

/// A pipeline context over the fakes and a private state folder, as a non-root user.
package struct FakeWorld {
    package let log = CallLog()
    package let failures = Failures()
    package let root: URL
    package let hypervisor: FakeHypervisor
    package let runner: FakeRunner
    package let disks: FakeDisks
    package var context: PipelineContext

    package init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("disks"), withIntermediateDirectories: true)
        hypervisor = FakeHypervisor(log: log, failures: failures)
        runner = FakeRunner(log: log)
        disks = FakeDisks(log: log, folder: root.appendingPathComponent("disks"))
        let captured = OutputBuffer()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        context = PipelineContext(
            logger: logger, runner: runner, hypervisor: hypervisor, guestShell: FakeGuestShell(log: log, failures: failures),
            disks: disks, imageTrees: FakeImageTrees(), locations: StateLocations(root: root.appendingPathComponent("state")),
            progress: ProgressReporter(quiet: true, environment: ["PODMAN_BOOTC_PROGRESS": "never"]),
            output: StandardOutput { captured.append($0) }, environment: ["HOME": root.path], isRoot: true)
        context.clock = clock
        self.captured = captured
    }

    package let captured: OutputBuffer
    package let clock = VirtualClock()

    package var vms: VMStore { context.vms }

    package func cleanUp() { try? FileManager.default.removeItem(at: root) }
}

package final class OutputBuffer: Sendable {
    package init() {}
    private let text = Mutex<Data>(Data())
    package func append(_ data: Data) { text.withLock { $0.append(data) } }
    package var string: String { String(decoding: text.withLock { $0 }, as: UTF8.self) }
}

/// Time that passes only when the pipeline sleeps: a five-minute SSH timeout takes no time.
package final class VirtualClock: PipelineClock {
    private let start: ContinuousClock.Instant
    private let current: Mutex<ContinuousClock.Instant>
    package init() {
        start = .now
        current = Mutex(start)
    }
    package var now: ContinuousClock.Instant { current.withLock { $0 } }
    package var slept: Duration { current.withLock { $0 } - start }
    package func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        current.withLock { $0 = $0 + duration }
        await Task.yield()
    }
}


/// A pool of in-memory volumes (what a remote host's folder would hold).
package final class FakeStoragePool: HostStoragePool, @unchecked Sendable {
    package let folder: String
    private let lock = NSLock()
    private var volumes: [String: Data] = [:]

    package init(folder: String) { self.folder = folder }

    package func volumePath(_ name: String) async throws -> String? {
        lock.withLock { volumes[name] == nil ? nil : folder + "/" + name }
    }

    /// Names of the volumes uploaded, in order.
    package var uploads: [String] { lock.withLock { uploaded } }
    private var uploaded: [String] = []

    package func upload(_ file: URL, as name: String, format: String) async throws -> String {
        let data = try Data(contentsOf: file)
        lock.withLock {
            volumes[name] = data
            uploaded.append(name)
        }
        return folder + "/" + name
    }

    package func createOverlay(_ name: String, backing: String, capacityBytes: UInt64) async throws -> String {
        lock.withLock { volumes[name] = Data("overlay of \(backing)".utf8) }
        return folder + "/" + name
    }

    package func delete(_ name: String) async throws { _ = lock.withLock { volumes.removeValue(forKey: name) } }

    package func volumeNames() async throws -> [String] { lock.withLock { volumes.keys.sorted() } }

    package func read(_ name: String, from offset: UInt64, limit: UInt64) async throws -> Data? {
        lock.withLock { volumes[name].map { Data($0.dropFirst(Int(offset)).prefix(Int(limit))) } }
    }
}
