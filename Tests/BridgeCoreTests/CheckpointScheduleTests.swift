@testable import BridgeCore
import Testing

/// The checkpoint cycle's decisions, commit by commit (`WALCheckpointer` runs them under its lock).
@Suite struct CheckpointScheduleTests {
    static func schedule() -> CheckpointSchedule { CheckpointSchedule(softLimit: 250, finishLimit: 256, hardLimit: 16000) }

    @Test func aCycleWakesTheThreadThenTheWriterFinishesItAndTheWALStartsOver() {
        var schedule = Self.schedule()
        #expect(schedule.committed(walFrames: 100) == .none)
        #expect(schedule.committed(walFrames: 260) == .wake)
        #expect(schedule.committed(walFrames: 300) == .none)  // the thread is at it
        schedule.threadFinished(copied: 300, log: 300)
        // 20 frames committed since: too few to wake the thread for; the writer copies them.
        #expect(schedule.committed(walFrames: 320) == .finish)
        schedule.writerCopied(through: 320)
        #expect(schedule.committed(walFrames: 15) == .none)  // SQLite started the WAL over
        #expect(schedule.copiedThrough == 0)
        #expect(schedule.committed(walFrames: 240) == .none)
        #expect(schedule.committed(walFrames: 250) == .wake)
    }

    @Test func commitsMadeDuringTheThreadsCheckpointThatLeaveTooMuchWakeItAgain() {
        var schedule = Self.schedule()
        #expect(schedule.committed(walFrames: 260) == .wake)
        #expect(schedule.committed(walFrames: 900) == .none)
        schedule.threadFinished(copied: 260, log: 260)
        // 690 frames left: more than the writer should copy itself, though under the soft limit's cycle start.
        #expect(schedule.committed(walFrames: 950) == .wake)
        schedule.threadFinished(copied: 950, log: 950)
        #expect(schedule.committed(walFrames: 1000) == .finish)
    }

    @Test func theWriterTriesToFinishOncePerRunOfTheThread() {
        var schedule = Self.schedule()
        #expect(schedule.committed(walFrames: 260) == .wake)
        schedule.threadFinished(copied: 260, log: 260)
        #expect(schedule.committed(walFrames: 280) == .finish)
        schedule.writerCopied(through: 270)  // a reader kept the last 10 frames
        #expect(schedule.committed(walFrames: 290) == .none)
        #expect(schedule.committed(walFrames: 520) == .wake)  // 250 left: the thread again
        schedule.threadFinished(copied: 520, log: 520)
        #expect(schedule.committed(walFrames: 530) == .finish)
    }

    @Test func theHardLimitCheckpointsInlineEvenWhileTheThreadRuns() {
        var schedule = Self.schedule()
        #expect(schedule.committed(walFrames: 260) == .wake)
        #expect(schedule.committed(walFrames: 16000) == .inline)
    }

    @Test func aThreadResultAboutAWALSinceStartedOverIsIgnored() {
        var schedule = Self.schedule()
        #expect(schedule.committed(walFrames: 260) == .wake)
        #expect(schedule.committed(walFrames: 20) == .none)  // started over while the thread ran
        schedule.threadFinished(copied: 260, log: 260)
        #expect(schedule.copiedThrough == 0)
        #expect(schedule.committed(walFrames: 40) == .none)  // nothing to finish: no cycle under way
    }
}
