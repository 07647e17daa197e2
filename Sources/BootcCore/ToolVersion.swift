// The version podman-bootc reports; warm states record it (a new version boots cold once).

public enum ToolVersion {
    public static let current = "0.1.0"
}
