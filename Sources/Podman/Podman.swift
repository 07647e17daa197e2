// A client for rootful podman's image storage, over the podman CLI.

import BootcCore
import Foundation
import Synchronization
import Host

public enum PodmanError: ToolError {
    case imageNotFound(reference: String, pullError: String?)
    case unexpectedOutput(command: String, detail: String)
    case copyFailed(reference: String, destination: String)
    case wrongArchitecture(reference: String, has: String, wanted: Architecture)

    public var exitCode: Int32 {
        switch self {
        case .imageNotFound: ExitStatus.notFound
        case .wrongArchitecture: ExitStatus.usage
        default: ExitStatus.toolFailure
        }
    }

    public var description: String {
        switch self {
        case .imageNotFound(let reference, nil):
            return "image \(reference) is not in podman's image storage; build it (podman build -t \(reference) ...) or check the name with `podman images`"
        case .imageNotFound(let reference, let pullError?):
            return "image \(reference) is not in podman's image storage and pulling it failed (\(pullError)); build or pull it first"
        case .copyFailed(let reference, let destination):
            return "copied \(reference) to \(destination) but it does not list the image afterwards; check `podman image ls` there"
        case .unexpectedOutput(let command, let detail):
            return "could not understand the output of `\(command)`: \(detail)"
        case .wrongArchitecture(let reference, let has, let wanted):
            return "image \(reference) is for \(has), not \(wanted.ociName) (--arch \(wanted.rawValue)): get that variant "
                + "(podman pull --arch \(wanted.ociName) \(reference), or podman build --platform linux/\(wanted.ociName)), or leave out --arch"
        }
    }
}

public struct Podman: Sendable {
    let runner: any ProcessRunner
    public let endpoint: PodmanEndpoint
    /// Inspections of the local storage kept while it is unchanged (see InspectionMemo).
    let memo: InspectionMemo?

    public init(runner: any ProcessRunner, endpoint: PodmanEndpoint = .local, memo: InspectionMemo? = nil) {
        self.runner = runner
        self.endpoint = endpoint
        self.memo = endpoint == .local ? memo : nil
    }

    /// `argv` (starting with "podman") aimed at this client's endpoint.
    public func command(_ argv: [String]) -> [String] { endpoint.command(argv) }

    /// Finds an image in local storage; pulls it (policy "missing") when it is absent and the
    /// reference names a registry, never for localhost/ images.
    /// With `architecture`, an image of another one is pulled again for it (as `podman pull
    /// --arch` does, the name then means that variant); a local-only image is refused.
    public func findImage(_ reference: String, architecture: Architecture? = nil) async throws -> ImageInspection {
        if let image = try await inspect(reference) {
            guard let architecture, let has = image.architecture, Architecture(anyName: has) != architecture else { return image }
            guard Self.namesRegistry(reference) else {
                throw PodmanError.wrongArchitecture(reference: reference, has: has, wanted: architecture)
            }
        } else {
            guard Self.namesRegistry(reference) else { throw PodmanError.imageNotFound(reference: reference, pullError: nil) }
        }
        let pull = try await runner.run(command(PodmanArguments.pull(reference, architecture: architecture)), stderr: .capture)
        guard pull.status == 0 else {
            let reason = pull.standardError.split(separator: "\n").last.map(String.init) ?? "status \(pull.status)"
            throw PodmanError.imageNotFound(reference: reference, pullError: reason)
        }
        guard let image = try await inspect(reference) else { throw PodmanError.imageNotFound(reference: reference, pullError: nil) }
        if let architecture, let has = image.architecture, Architecture(anyName: has) != architecture {
            throw PodmanError.wrongArchitecture(reference: reference, has: has, wanted: architecture)
        }
        return image
    }

    /// The image, or nil when this storage does not have it.
    public func inspect(_ reference: String) async throws -> ImageInspection? {
        if let known = memo?.recall(reference) { return known }
        let argv = command(PodmanArguments.inspectImage(reference))
        let result = try await runner.run(argv)
        guard result.status == 0 else {
            if result.standardError.contains("image not known") || result.standardError.contains("no such image") { return nil }
            throw ProcessError.failed(argv: argv, status: result.status, standardError: result.standardError)
        }
        let image: ImageInspection?
        do {
            image = try ImageInspection.decode(result.standardOutput).first
        } catch {
            throw PodmanError.unexpectedOutput(command: "podman image inspect", detail: "\(error)")
        }
        if let image { memo?.remember(image, as: reference) }
        return image
    }

    /// Finds the image here; when this storage lacks it but `source` has it (the rootless
    /// storage of the user behind sudo), copies it over first and says so through `notice`.
    public func findImage(_ reference: String, architecture: Architecture? = nil, copyingFrom source: Podman?,
                          notice: @Sendable (String) -> Void) async throws -> ImageInspection {
        if let image = try await inspect(reference) { return try await findImage(reference, architecture: architecture, found: image) }
        // The other storage is a convenience: when it cannot be read, act as if it had nothing.
        if let source, (try? await source.inspect(reference)) != nil {
            notice("Copying \(reference) from \(source.endpoint) into \(endpoint)")
            try await copyImage(reference, from: source)
            if let image = try await inspect(reference) { return try await findImage(reference, architecture: architecture, found: image) }
        }
        return try await findImage(reference, architecture: architecture)
    }

    /// `image` when it is of `architecture` (or none is asked for); else what findImage does.
    private func findImage(_ reference: String, architecture: Architecture?, found image: ImageInspection) async throws -> ImageInspection {
        guard let architecture, let has = image.architecture, Architecture(anyName: has) != architecture else { return image }
        return try await findImage(reference, architecture: architecture)
    }

    /// Makes sure this storage has the image `image` (found in `source` as `reference`),
    /// copying it when it is missing; an image ID survives save and load unchanged.
    public func ensureImage(_ image: ImageInspection, reference: String, from source: Podman,
                            notice: @Sendable (String) -> Void) async throws {
        guard try await inspect(image.id) == nil else { return }
        notice("Copying \(reference) from \(source.endpoint) to \(endpoint)")
        try await copyImage(reference, from: source)
        guard try await inspect(image.id) != nil else {
            throw PodmanError.copyFailed(reference: reference, destination: "\(endpoint)")
        }
    }

    /// A reference whose first component is a registry host ("quay.io/x", "host:5000/x").
    public static func namesRegistry(_ reference: String) -> Bool {
        guard let slash = reference.firstIndex(of: "/") else { return false }
        let host = reference[..<slash]
        return host != "localhost" && (host.contains(".") || host.contains(":"))
    }

    /// Runs `body` with the image's root filesystem mounted read-only on the host.
    public func withMountedImage<T: Sendable>(_ imageID: String, _ body: (URL) async throws -> T) async throws -> T {
        let output = try await runner.check(command(PodmanArguments.mountImage(imageID)))
        let path = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard path.hasPrefix("/") else {
            throw PodmanError.unexpectedOutput(command: "podman image mount", detail: "expected a path, got \(path.debugDescription)")
        }
        Self.heldMounts.withLock { $0[imageID, default: 0] += 1 }
        do {
            let value = try await body(URL(fileURLWithPath: path))
            if Self.release(imageID) { _ = try? await runner.run(command(PodmanArguments.unmountImage(imageID))) }
            return value
        } catch {
            if Self.release(imageID) { _ = try? await runner.run(command(PodmanArguments.unmountImage(imageID))) }
            throw error
        }
    }

    /// The mounts this process made and has not undone, per image: podman counts mounts of
    /// an image across processes, so an unmount this process did not earn would take another
    /// process's tree away under it.
    private static let heldMounts = Mutex<[String: Int]>([:])

    /// Takes one mount of `imageID` off this process's books; false when it holds none (an
    /// interrupt's cleanup undid it already).
    private static func release(_ imageID: String) -> Bool {
        heldMounts.withLock {
            guard let count = $0[imageID], count > 0 else { return false }
            $0[imageID] = count == 1 ? nil : count - 1
            return true
        }
    }

    /// Undoes the mounts of the image that this process made and still holds (an interrupt
    /// mid-install); nothing when it holds none.
    public func unmountHeldMounts(of imageID: String) async {
        let count = Self.heldMounts.withLock { $0.removeValue(forKey: imageID) ?? 0 }
        for _ in 0..<count { await unmountImage(imageID) }
    }

    /// Undoes one mount of the image (best effort: it may not be mounted any more).
    public func unmountImage(_ imageID: String) async {
        _ = try? await runner.run(command(PodmanArguments.unmountImage(imageID)))
    }

    /// Copies `reference` from `source`'s storage into this one (`podman save | podman load`,
    /// streamed through a pipe, no temporary archive).
    public func copyImage(_ reference: String, from source: Podman) async throws {
        try await runner.pipe(source.command(PodmanArguments.save(reference)), into: command(PodmanArguments.load))
    }
}
