// The podman command lines podman-bootc runs, as pure argv values (golden-tested).

import BootcCore

public enum PodmanArguments {
    public static func inspectImage(_ reference: String) -> [String] {
        ["podman", "image", "inspect", "--format", "json", "--", reference]
    }

    /// Pulls `reference`; for another architecture than this host's when one is given.
    public static func pull(_ reference: String, architecture: Architecture? = nil) -> [String] {
        ["podman", "image", "pull", "--quiet"] + (architecture.map { ["--arch", $0.ociName] } ?? []) + ["--", reference]
    }

    /// Mounts the image's root filesystem read-only on the host and prints its path.
    public static func mountImage(_ imageID: String) -> [String] {
        ["podman", "image", "mount", "--", imageID]
    }

    public static func unmountImage(_ imageID: String) -> [String] {
        ["podman", "image", "unmount", "--", imageID]
    }

    /// Writes the image, with its name, as an archive on stdout.
    public static func save(_ reference: String) -> [String] {
        ["podman", "image", "save", "--quiet", "--", reference]
    }

    /// Reads an image archive from stdin.
    public static let load = ["podman", "image", "load", "--quiet"]
}
