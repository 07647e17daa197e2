// Commands in a guest without a network card (`--network none`): the QEMU guest agent
// (qemu-ga, which the image must ship) runs them with guest-exec on its virtio-serial channel,
// reached through libvirt. No SSH, so no interactive shell and no file copies; a command's
// output comes back when it ends.

import BootcCore
import Foundation
import Host

enum QemuGuestAgentError: ToolError {
    case noAnswer(vm: String, seconds: Int64, lastError: String)
    case needsSSH(vm: String, what: String)
    case protocolError(String)

    var description: String {
        switch self {
        case .noAnswer(let vm, let seconds, let lastError):
            return "the QEMU guest agent of VM \(vm) did not answer within \(seconds) s (\(lastError)). With --network none, commands "
                + "run through qemu-guest-agent: the image must contain it and start it on its virtio port "
                + "(Debian/Ubuntu and Fedora/CentOS package it as qemu-guest-agent); `podman-bootc logs \(vm)` shows the boot"
        case .needsSSH(let vm, let what):
            return "VM \(vm) has no network card (--network none), so \(what) is not available: it needs SSH. Run commands with "
                + "`podman-bootc ssh \(vm) -- COMMAND`, or create the VM with --network isolated (no way out, SSH in)"
        case .protocolError(let detail):
            return "the QEMU guest agent answered something unexpected: \(detail)"
        }
    }
}

/// The qemu-ga JSON commands podman-bootc sends, and their answers.
enum QemuGuestAgentMessages {
    struct Request<Arguments: Encodable>: Encodable {
        var execute: String
        var arguments: Arguments?
    }

    struct NoArguments: Encodable {}

    struct Exec: Encodable {
        var path: String
        var arg: [String]
        var captureOutput = true
        var inputData: String?

        enum CodingKeys: String, CodingKey {
            case path, arg
            case captureOutput = "capture-output"
            case inputData = "input-data"
        }
    }

    struct ExecStatusRequest: Encodable { var pid: Int }

    struct Reply<Value: Decodable>: Decodable {
        var value: Value
        enum CodingKeys: String, CodingKey { case value = "return" }
    }

    struct Started: Decodable { var pid: Int }

    struct ExecStatus: Decodable {
        var exited: Bool
        var exitcode: Int32?
        var signal: Int32?
        var outData: String?
        var errData: String?

        enum CodingKeys: String, CodingKey {
            case exited, exitcode, signal
            case outData = "out-data"
            case errData = "err-data"
        }
    }

    struct Empty: Decodable {}

    static func encode<Arguments: Encodable>(_ command: String, _ arguments: Arguments?) throws -> String {
        String(decoding: try JSONEncoder().encode(Request(execute: command, arguments: arguments)), as: UTF8.self)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from json: String) throws -> Value {
        do {
            return try JSONDecoder().decode(Reply<Value>.self, from: Data(json.utf8)).value
        } catch {
            throw QemuGuestAgentError.protocolError(String(json.prefix(200)))
        }
    }

    /// A shell's view of how the command ended, from what the guest says: an exit code
    /// 0...255, or 128 + a signal number 1...64; anything else (a guest may say anything) 255.
    static func exitStatus(exitcode: Int32?, signal: Int32?) -> Int32 {
        if let exitcode { return (0...255).contains(exitcode) ? exitcode : 255 }
        if let signal, (1...64).contains(signal) { return 128 + signal }
        return 255
    }

    static var ping: String { (try? encode("guest-ping", NoArguments?.none)) ?? #"{"execute":"guest-ping"}"# }
}

struct QemuGuestAgentSession: GuestSession {
    let domain: any VirtualMachineDomain
    let vmName: String
    let clock: any PipelineClock

    /// Runs `commandLine` with /bin/sh as root; returns its status, stdout and stderr.
    func exec(_ commandLine: String, input: Data) async throws -> (status: Int32, output: Data, error: Data) {
        let exec = QemuGuestAgentMessages.Exec(path: "/bin/sh", arg: ["-c", commandLine],
                                               inputData: input.isEmpty ? nil : input.base64EncodedString())
        let started = try QemuGuestAgentMessages.decode(
            QemuGuestAgentMessages.Started.self,
            from: try await domain.guestAgentCommand(try QemuGuestAgentMessages.encode("guest-exec", exec), timeoutSeconds: 10))
        // guest-exec-status says only "running" or "exited": poll, from quick to 200 ms.
        var pause = Duration.milliseconds(10)
        while true {
            let json = try await domain.guestAgentCommand(
                try QemuGuestAgentMessages.encode("guest-exec-status", QemuGuestAgentMessages.ExecStatusRequest(pid: started.pid)),
                timeoutSeconds: 10)
            let status = try QemuGuestAgentMessages.decode(QemuGuestAgentMessages.ExecStatus.self, from: json)
            if status.exited {
                let code = QemuGuestAgentMessages.exitStatus(exitcode: status.exitcode, signal: status.signal)
                return (code, Data(base64Encoded: status.outData ?? "") ?? Data(), Data(base64Encoded: status.errData ?? "") ?? Data())
            }
            try await clock.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(200))
        }
    }

    func execute(_ commandLine: String, input: Int32, output: Int32, error: Int32, outputLimit: UInt64?) async throws -> Int32 {
        // A terminal gives no input to a command that cannot be interactive; a pipe or file does.
        let stdin = isatty(input) == 1 ? Data() : (FileHandle(fileDescriptor: input, closeOnDealloc: false).readDataToEndOfFile())
        let result = try await exec(commandLine, input: stdin)
        let shown = outputLimit.map { result.output.prefix(Int(clamping: $0)) } ?? result.output[...]
        FileHandle(fileDescriptor: output, closeOnDealloc: false).write(Data(shown))
        FileHandle(fileDescriptor: error, closeOnDealloc: false).write(result.error)
        return result.status
    }

    func interactiveShell(term: String) async throws -> Int32 {
        throw QemuGuestAgentError.needsSSH(vm: vmName, what: "an interactive shell")
    }

    func run(_ commandLine: String, input: Data) async throws -> (status: Int32, output: String) {
        let result = try await exec(commandLine, input: input)
        return (result.status, String(decoding: result.output + result.error, as: UTF8.self))
    }

    func download(_ guestPath: String, into folder: ConfinedFolder) async throws -> GuestCopy {
        throw QemuGuestAgentError.needsSSH(vm: vmName, what: "copying \(guestPath) out of the guest")
    }

    func apply(_ operations: [GuestFileOperation]) async throws {
        throw QemuGuestAgentError.needsSSH(vm: vmName, what: "a live update")
    }

    func disconnect() async {}
}

/// Waits until a booting guest's qemu-ga answers (it starts when its virtio port appears).
struct QemuGuestAgentWaiter: Sendable {
    let context: PipelineContext

    func wait(_ vm: LaunchedVM, timeout: Duration) async throws -> QemuGuestAgentSession {
        let progress = context.progress
        let clock = context.clock
        let deadline = clock.now + timeout
        var lastError = "no attempt"
        var first = true
        while clock.now < deadline {
            progress.waiting("Waiting for the guest agent (no network card)", first: first)
            first = false
            guard await vm.domain.isActive() else {
                progress.doneWaiting()
                throw VMError.stoppedWhileBooting(name: vm.record.name, consoleLog: vm.consoleLog.path)
            }
            do {
                _ = try QemuGuestAgentMessages.decode(QemuGuestAgentMessages.Empty.self,
                                                      from: try await vm.domain.guestAgentCommand(QemuGuestAgentMessages.ping, timeoutSeconds: 2))
                progress.doneWaiting()
                progress.stage("Guest agent ready")
                return QemuGuestAgentSession(domain: vm.domain, vmName: vm.record.name, clock: clock)
            } catch {
                lastError = "\(error)"
                context.logger.debug("guest agent not ready", metadata: ["error": "\(error)"])
            }
            try await clock.sleep(for: .milliseconds(500))
        }
        progress.doneWaiting()
        throw QemuGuestAgentError.noAnswer(vm: vm.record.name, seconds: timeout.wholeSeconds, lastError: lastError)
    }
}
