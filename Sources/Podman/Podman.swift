// A client for rootful podman's image storage, over the podman CLI.

import BootcCore
import Foundation
import Host

public enum PodmanError: ToolError {
    case imageNotFound(reference: String, pullError: String?)
    case unexpectedOutput(command: String, detail: String)

    public var description: String {
        switch self {
        case .imageNotFound(let reference, nil):
            return "image \(reference) is not in podman's image storage; build it (podman build -t \(reference) ...) or check the name with `podman images`"
        case .imageNotFound(let reference, let pullError?):
            return "image \(reference) is not in podman's image storage and pulling it failed (\(pullError)); build or pull it first"
        case .unexpectedOutput(let command, let detail):
            return "could not understand the output of `\(command)`: \(detail)"
        }
    }
}

public struct Podman: Sendable {
    let runner: any ProcessRunner

    public init(runner: any ProcessRunner) { self.runner = runner }

    /// Finds an image in local storage; pulls it (policy "missing") when it is absent and the
    /// reference names a registry, never for localhost/ images.
    public func findImage(_ reference: String) async throws -> ImageInspection {
        if let image = try await inspect(reference) { return image }
        guard Self.namesRegistry(reference) else { throw PodmanError.imageNotFound(reference: reference, pullError: nil) }
        let pull = try await runner.run(PodmanArguments.pull(reference), stderr: .capture)
        guard pull.status == 0 else {
            let reason = pull.standardError.split(separator: "\n").last.map(String.init) ?? "status \(pull.status)"
            throw PodmanError.imageNotFound(reference: reference, pullError: reason)
        }
        guard let image = try await inspect(reference) else { throw PodmanError.imageNotFound(reference: reference, pullError: nil) }
        return image
    }

    func inspect(_ reference: String) async throws -> ImageInspection? {
        let result = try await runner.run(PodmanArguments.inspectImage(reference))
        guard result.status == 0 else {
            if result.standardError.contains("image not known") || result.standardError.contains("no such image") { return nil }
            throw ProcessError.failed(argv: PodmanArguments.inspectImage(reference), status: result.status, standardError: result.standardError)
        }
        do {
            return try ImageInspection.decode(result.standardOutput).first
        } catch {
            throw PodmanError.unexpectedOutput(command: "podman image inspect", detail: "\(error)")
        }
    }

    /// A reference whose first component is a registry host ("quay.io/x", "host:5000/x").
    static func namesRegistry(_ reference: String) -> Bool {
        guard let slash = reference.firstIndex(of: "/") else { return false }
        let host = reference[..<slash]
        return host != "localhost" && (host.contains(".") || host.contains(":"))
    }

    /// Runs `body` with the image's root filesystem mounted read-only on the host.
    public func withMountedImage<T: Sendable>(_ imageID: String, _ body: (URL) async throws -> T) async throws -> T {
        let output = try await runner.check(PodmanArguments.mountImage(imageID))
        let path = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard path.hasPrefix("/") else {
            throw PodmanError.unexpectedOutput(command: "podman image mount", detail: "expected a path, got \(path.debugDescription)")
        }
        do {
            let value = try await body(URL(fileURLWithPath: path))
            _ = try? await runner.run(PodmanArguments.unmountImage(imageID))
            return value
        } catch {
            _ = try? await runner.run(PodmanArguments.unmountImage(imageID))
            throw error
        }
    }
}
