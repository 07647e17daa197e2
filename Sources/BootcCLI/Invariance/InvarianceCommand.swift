// `podman-bootc invariance`: the invariance hash of build inputs, and podrun's rebuild
// decision for an image.

import ArgumentParser
import BootcCore
import Foundation
import Invariance
import BootcPipeline

struct InvarianceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invariance",
        abstract: "Compute invariance hashes and check whether an image must be rebuilt.",
        subcommands: [InvarianceHashCommand.self, InvarianceCheckCommand.self])
}

struct InvarianceHashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the invariance hash of build inputs (files and folders).",
        discussion: """
            Deterministic: paths sorted, named relative to --root, file modes and contents,
            symlink targets; no timestamps or owners; .git folders skipped. The format is in
            the README, so the hash can be reproduced without this tool. Without inputs, the
            words of $INVARIANCE_INPUTS are used, else the whole --root folder.

            Examples:
              podman-bootc invariance hash Containerfile VERSION
              podman-bootc invariance hash --inputs Containerfile VERSION
              INVARIANCE_INPUTS="Dockerfile VERSION" podman-bootc invariance hash
              podman-bootc invariance hash --root images/debian .
            """)

    @Option(help: "Folder the inputs are named relative to (default: the current folder).")
    var root: String?

    @Option(name: .customLong("inputs"), parsing: .upToNextOption, help: ArgumentHelp("Files and folders to hash (as positional arguments also).", valueName: "path"))
    var inputOptions: [String] = []

    @Argument(help: "Files and folders to hash.")
    var inputs: [String] = []

    func run() throws {
        // As bytes: a folder whose name is not UTF-8 is hashed, not "not found".
        let current = RawArguments.currentFolder
        let rootPath = root.map { RawArguments.path($0) }.map { $0.isAbsolute ? $0 : current.appending($0) } ?? current
        var names = (inputOptions + inputs).map { RawArguments.path($0) }
        if names.isEmpty { names = RawArguments.words(ofEnvironment: "INVARIANCE_INPUTS") }
        if names.isEmpty { names = [RawPath(".")] }
        do {
            print(try InvarianceHash.compute(inputs: names, root: rootPath))
        } catch let error as InvarianceHashError {
            throw InvarianceCommandError(message: "\(error)", exitCode: ExitStatus.notFound)
        }
    }
}

struct InvarianceCheckCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Say whether an image would be (re)built before booting, and why.",
        discussion: """
            IMAGE is an image reference (its quadlet unit NAME.build is looked up in
            ~/.config/containers/systemd, /etc/containers/systemd/users, /etc/containers/systemd),
            a .build unit file, or a folder with a Containerfile. Exit status 0 either way.

            Examples:
              podman-bootc invariance check system.local/ocrmypdf-image:latest
              podman-bootc invariance check ./ocrmypdf-image.build --format json
              podman-bootc invariance check ./images/debian
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Argument(help: "Image reference, .build unit, or folder with a Containerfile.") var image: String

    func run(_ context: PipelineContext) async throws {
        let report = try await RunSequence(context: context).rebuildReport(image)
        context.output.write(try Renderer.render(report, as: format))
    }
}

struct InvarianceCommandError: ToolError {
    var message: String
    var exitCode: Int32
    var description: String { message }
}
