// Parsing of user-written sizes and durations.

import BootcCore
import Testing

@Suite struct ByteSizeTests {
    @Test(arguments: [("10G", UInt64(10) << 30), ("512M", 512 << 20), ("4096", 4096), ("2GiB", 2 << 30), ("1k", 1024)])
    func parses(text: String, bytes: UInt64) {
        #expect(ByteSize(parsing: text)?.bytes == bytes)
    }

    @Test(arguments: ["", "G", "10X", "-1G", "1.5G", "99999999999T"])
    func rejects(text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test func describesInLargestExactUnit() {
        #expect(ByteSize.gibibytes(10).description == "10G")
        #expect(ByteSize(bytes: 1536 << 20).description == "1536M")
    }

    @Test func durations() {
        #expect(DurationParser.parse("90") == .seconds(90))
        #expect(DurationParser.parse("5m") == .seconds(300))
        #expect(DurationParser.parse("1h30m") == .seconds(5400))
        #expect(DurationParser.parse("250ms") == .milliseconds(250))
        #expect(DurationParser.parse("soon") == nil)
        #expect(DurationParser.parse("") == nil)
    }
}
