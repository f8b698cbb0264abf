namespace VMS.TPS.Common.Model.Types
{
    public enum DoseValuePresentation
    {
        Relative = 0,
        Absolute = 1,
    }

    public enum VolumePresentation
    {
        Relative = 0,
        AbsoluteCm3 = 1,
    }

    public enum PlanSumOperation
    {
        Undefined = -1,
        Addition = 0,
        Subtraction = 1,
    }

    public enum OptimizationObjectiveOperator
    {
        Upper = 0,
        Lower = 1,
        Exact = 2,
        None = 99,
    }

    public enum OptimizationOption
    {
        RestartOptimization = 0,
        ContinueOptimization = 1,
        ContinueOptimizationWithPlanDoseAsIntermediateDose = 2,
    }

    public enum OptimizationIntermediateDoseOption
    {
        NoIntermediateDose = 0,
        UseIntermediateDose = 1,
    }

    public enum OptimizationConvergenceOption
    {
        NoEarlyTermination = 0,
        TerminateIfConverged = 1,
    }

    /// <summary>Calculation types (15.6 values; 16.1 added 2 and 8-12).</summary>
    public enum CalculationType
    {
        PhotonVolumeDose = 0,
        PhotonSRSDose = 1,
        PhotonIMRTOptimization = 3,
        PhotonVMATOptimization = 4,
        PhotonLeafMotions = 5,
        ProtonVolumeDose = 6,
        DVHEstimation = 7,
    }

    public enum GantryDirection
    {
        None = 0,
        Clockwise = 1,
        CounterClockwise = 2,
    }

    public enum PlanSetupApprovalStatus
    {
        Rejected = 0,
        UnApproved = 1,
        Reviewed = 2,
        PlanningApproved = 3,
        TreatmentApproved = 4,
        CompletedEarly = 5,
        Completed = 6,
        Retired = 7,
        UnPlannedTreatment = 8,
        ExternallyApproved = 9,
        Unknown = 999,
    }
}
