namespace VMS.TPS.Common.Model.Types
{
    public abstract class OptimizationOptionsBase
    {
        private readonly string _mlc;
        private readonly OptimizationOption _startOption;
        private readonly OptimizationIntermediateDoseOption _intermediate;

        internal OptimizationOptionsBase(OptimizationOption startOption,
            OptimizationIntermediateDoseOption intermediateDoseOption, string mlcId)
        {
            _startOption = startOption;
            _intermediate = intermediateDoseOption;
            _mlc = mlcId;
        }

        public string MLC { get { return _mlc; } }

        public OptimizationOption StartOption { get { return _startOption; } }

        public OptimizationIntermediateDoseOption IntermediateDoseOption { get { return _intermediate; } }
    }

    public class OptimizationOptionsVMAT : OptimizationOptionsBase
    {
        private readonly int _cycles;

        public OptimizationOptionsVMAT(OptimizationOption startOption, string mlcId)
            : this(startOption, OptimizationIntermediateDoseOption.NoIntermediateDose, 1, mlcId)
        {
        }

        public OptimizationOptionsVMAT(OptimizationIntermediateDoseOption intermediateDoseOption, string mlcId)
            : this(OptimizationOption.RestartOptimization, intermediateDoseOption, 1, mlcId)
        {
        }

        public OptimizationOptionsVMAT(int numberOfCycles, string mlcId)
            : this(OptimizationOption.RestartOptimization, OptimizationIntermediateDoseOption.NoIntermediateDose,
                   numberOfCycles, mlcId)
        {
        }

        public OptimizationOptionsVMAT(OptimizationOptionsVMAT options)
            : this(options.StartOption, options.IntermediateDoseOption, options.NumberOfOptimizationCycles, options.MLC)
        {
        }

        protected OptimizationOptionsVMAT(OptimizationOption startOption,
            OptimizationIntermediateDoseOption intermediateDoseOption, int numberOfCycles, string mlcId)
            : base(startOption, intermediateDoseOption, mlcId)
        {
            _cycles = numberOfCycles;
        }

        public int NumberOfOptimizationCycles { get { return _cycles; } }
    }

    public class OptimizationOptionsIMRT : OptimizationOptionsBase
    {
        private readonly OptimizationConvergenceOption _convergence;
        private readonly int _steps;
        private readonly int _maxIterations;

        public OptimizationOptionsIMRT(int maxIterations, OptimizationOption initialState,
            int numberOfStepsBeforeIntermediateDose, OptimizationConvergenceOption convergenceOption, string mlcId)
            : base(initialState, OptimizationIntermediateDoseOption.UseIntermediateDose, mlcId)
        {
            _maxIterations = maxIterations;
            _steps = numberOfStepsBeforeIntermediateDose;
            _convergence = convergenceOption;
        }

        public OptimizationOptionsIMRT(int maxIterations, OptimizationOption initialState,
            OptimizationConvergenceOption convergenceOption, OptimizationIntermediateDoseOption intermediateDoseOption,
            string mlcId)
            : base(initialState, intermediateDoseOption, mlcId)
        {
            _maxIterations = maxIterations;
            _convergence = convergenceOption;
        }

        public OptimizationOptionsIMRT(int maxIterations, OptimizationOption initialState,
            OptimizationConvergenceOption convergenceOption, string mlcId)
            : base(initialState, OptimizationIntermediateDoseOption.NoIntermediateDose, mlcId)
        {
            _maxIterations = maxIterations;
            _convergence = convergenceOption;
        }

        public OptimizationConvergenceOption ConvergenceOption { get { return _convergence; } }

        public int NumberOfStepsBeforeIntermediateDose { get { return _steps; } }

        public int MaximumNumberOfIterations { get { return _maxIterations; } }
    }

    public class ExternalBeamMachineParameters
    {
        public ExternalBeamMachineParameters(string machineId, string energyModeId, int doseRate, string techniqueId,
            string primaryFluenceModeId)
        {
            MachineId = machineId;
            EnergyModeId = energyModeId;
            DoseRate = doseRate;
            TechniqueId = techniqueId;
            PrimaryFluenceModeId = primaryFluenceModeId;
        }

        public string MachineId { get; set; }

        public string EnergyModeId { get; set; }

        public int DoseRate { get; set; }

        public string PrimaryFluenceModeId { get; set; }

        public string TechniqueId { get; set; }
    }

    public class LMCVOptions
    {
        private readonly bool _fixedJaws;

        public LMCVOptions(bool fixedJaws)
        {
            _fixedJaws = fixedJaws;
        }

        public bool FixedJaws { get { return _fixedJaws; } }
    }

    public class SmartLMCOptions
    {
        private readonly bool _fixedFieldBorders;
        private readonly bool _jawTracking;

        public SmartLMCOptions(bool fixedFieldBorders, bool jawTracking)
        {
            _fixedFieldBorders = fixedFieldBorders;
            _jawTracking = jawTracking;
        }

        public bool FixedFieldBorders { get { return _fixedFieldBorders; } }

        public bool JawTracking { get { return _jawTracking; } }
    }
}
