// The podman command lines podman-bootc runs, as pure argv values (golden-tested).

public enum PodmanArguments {
    public static func inspectImage(_ reference: String) -> [String] {
        ["podman", "image", "inspect", "--format", "json", "--", reference]
    }

    public static func pull(_ reference: String) -> [String] {
        ["podman", "image", "pull", "--quiet", "--", reference]
    }

    /// Mounts the image's root filesystem read-only on the host and prints its path.
    public static func mountImage(_ imageID: String) -> [String] {
        ["podman", "image", "mount", "--", imageID]
    }

    public static func unmountImage(_ imageID: String) -> [String] {
        ["podman", "image", "unmount", "--", imageID]
    }
}
