// `podman-bootc cache`: the installed disks on this host.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List and prune installed disks and their saved running states.",
        subcommands: [CacheList.self, CacheAdd.self, CacheWarm.self, CachePrune.self])
}

struct CacheList: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List installed disks and saved running states, what they hold and which VMs use them.",
        discussion: """
            Examples:
              podman-bootc cache list
              podman-bootc cache list --format json
            """,
        aliases: ["ls"])

    @OptionGroup var global: GlobalOptions
    @Option(help: "text or json.") var format: OutputFormat = .text

    func run(_ context: PipelineContext) async throws {
        context.output.write(try Renderer.render(CacheInventory(context: context).entries(), as: format))
    }
}

struct CachePrune: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove installed disks and saved running states that no VM uses.",
        discussion: """
            Disks and states that back a VM's overlay are kept: remove the VM first. With
            --warm, only saved running states are removed (the next run of each image boots
            cold and saves a new one).

            Examples:
              podman-bootc cache prune
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Remove only saved running states (warm starts), keep the installed disks.") var warm = false

    func run(_ context: PipelineContext) async throws {
        let pruned = try CacheInventory(context: context).prune(warmOnly: warm)
        pruned.removed.forEach(context.output.line)
        FileHandle.standardError.write(Data("pruned; freed \(ByteSize.mebibytes(pruned.freedBytes >> 20))\n".utf8))
    }
}
