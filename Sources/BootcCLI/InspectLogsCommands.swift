// `podman-bootc inspect` (JSON) and `podman-bootc logs` (the serial console log).

import ArgumentParser
import BootcCore
import Foundation
import Host

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show everything about a VM as JSON.",
        discussion: """
            Examples:
              podman-bootc inspect web
              podman-bootc inspect -l | jq .sshPort
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection

    struct Inspection: Codable {
        var record: VMRecord
        var status: VMStatus
        var sshPort: Int
        var privateKey: String
        var overlay: String
        var consoleLog: String
        var domainMetadata: String?
    }

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let record = try selection.record(in: context.vms)
        let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
        let inspection = Inspection(
            record: record, status: runtime.status, sshPort: record.sshPort,
            privateKey: context.vms.privateKey(record.id).path, overlay: context.vms.overlay(record.id).path,
            consoleLog: context.vms.consoleLog(record.id).path, domainMetadata: runtime.domain?.podmanBootcMetadata())
        print(try OutputFormat.json(inspection))
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a VM's serial console log (-f follows it).",
        discussion: """
            Examples:
              podman-bootc logs web
              podman-bootc logs -f -l
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(name: .shortAndLong, help: "Keep printing what the console writes until Ctrl-C.") var follow = false

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let record = try selection.record(in: context.vms)
        let path = context.vms.consoleLog(record.id).path
        guard let log = try? FileDescriptorHandle.openRegularFile(path) else {
            throw VMStateError.noConsoleLog(name: record.name, path: path)
        }
        InterruptCleanup.shared.install()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            guard let count = try? log.read(into: &buffer) else { throw VMStateError.noConsoleLog(name: record.name, path: path) }
            if count > 0 {
                FileHandle.standardOutput.write(Data(buffer[..<count]))
                continue
            }
            guard follow else { return }
            // The log is a plain file written by virtlogd: poll its growth.
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
