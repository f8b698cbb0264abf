using System;
using System.Collections.Generic;
using System.Linq;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    public class Image : ApiDataObject
    {
        internal readonly DoseGrid _grid;
        internal readonly int[] _raw; // flat, index = (k * ny + j) * nx + i; HU = raw - 1024
        internal readonly string _for;
        internal VVector _userOrigin;

        internal Image(Patient patient, string id, string frameOfReference, DoseGrid grid, int[] raw)
        {
            if (raw.Length != grid.Count)
            {
                throw new ArgumentException("image: expected " + grid.Count + " voxels, got " + raw.Length);
            }
            _owner = patient;
            _id = id;
            _for = frameOfReference;
            _grid = grid;
            _raw = raw;
            _userOrigin = new VVector(0, 0, 0);
        }

        public new string Id
        {
            get { return _id; }
            set
            {
                Guard("Id");
                RequireId(value, "Image");
                _id = value;
                Record("set_Id", value);
            }
        }

        public string ContrastBolusAgentIngredientName { get { return ""; } }

        public DateTime? CreationDateTime { get { return new DateTime(2026, 11, 20, 9, 30, 0); } }

        public string DisplayUnit { get { return "HU"; } }

        public string FOR { get { return _for; } }

        public bool HasUserOrigin { get { return true; } }

        public bool IsProcessed { get { return false; } }

        public int Level { get { return 40; } }

        public int Window { get { return 400; } }

        public VVector Origin { get { return _grid.OriginVector; } }

        public VVector UserOrigin
        {
            get { return _userOrigin; }
            set
            {
                Guard("UserOrigin");
                _userOrigin = value;
                Record("set_UserOrigin", value);
            }
        }

        public string UserOriginComments { get { return ""; } }

        public VVector XDirection { get { return _grid.Axis(0); } }

        public VVector YDirection { get { return _grid.Axis(1); } }

        public VVector ZDirection { get { return _grid.Axis(2); } }

        public double XRes { get { return _grid.Spacing[0]; } }

        public double YRes { get { return _grid.Spacing[1]; } }

        public double ZRes { get { return _grid.Spacing[2]; } }

        public int XSize { get { return _grid.Size[0]; } }

        public int YSize { get { return _grid.Size[1]; } }

        public int ZSize { get { return _grid.Size[2]; } }

        public void GetVoxels(int planeIndex, int[,] preallocatedBuffer)
        {
            Voxels.CopyPlane(_raw, _grid, planeIndex, preallocatedBuffer);
        }

        /// <summary>A new, empty, unapproved structure set on this image; its id is the image's id made
        /// unique with "_n" (assumption).</summary>
        public StructureSet CreateNewStructureSet()
        {
            Guard("CreateNewStructureSet");
            StructureSet set = new StructureSet(_owner, StructureSet.FreeId(_owner, _id), this, false);
            _owner._structureSets.Add(set);
            Record("CreateNewStructureSet", set._id);
            return set;
        }

        public double VoxelToDisplayValue(int voxelValue)
        {
            return voxelValue - StubRuntime.RawCtOffset;
        }
    }

    internal static class Voxels
    {
        internal static void CopyPlane(int[] raw, DoseGrid grid, int planeIndex, int[,] buffer)
        {
            int nx = grid.Size[0], ny = grid.Size[1];
            if (planeIndex < 0 || planeIndex >= grid.Size[2])
            {
                throw new ArgumentOutOfRangeException("planeIndex", planeIndex,
                    "plane index must be in [0, " + grid.Size[2] + ")");
            }
            if (buffer == null || buffer.GetLength(0) != nx || buffer.GetLength(1) != ny)
            {
                throw new ArgumentException("The size of the buffer must conform with the X- and Y-size (int["
                    + nx + ", " + ny + "]).", "preallocatedBuffer");
            }
            int offset = planeIndex * nx * ny;
            // buffer[i, j] is at i * ny + j (row-major); raw is [z][y][x]. Pointers: Mono's
            // multidimensional indexer costs several times the copy itself.
            unsafe
            {
                fixed (int* dst = &buffer[0, 0])
                fixed (int* src = &raw[offset])
                {
                    int* to = dst;
                    for (int i = 0; i < nx; i++)
                    {
                        int* from = src + i;
                        int* end = to + ny;
                        while (to < end)
                        {
                            *to++ = *from;
                            from += nx;
                        }
                    }
                }
            }
        }
    }

    public class StructureSet : ApiDataObject
    {
        internal static readonly string[] DicomTypes =
        {
            "AVOIDANCE", "CAVITY", "CONTRAST_AGENT", "CTV", "EXTERNAL", "GTV", "IRRAD_VOLUME", "ORGAN", "PTV",
            "TREATED_VOLUME", "SUPPORT", "FIXATION", "CONTROL", "DOSE_REGION",
        };

        internal readonly List<Structure> _structures = new List<Structure>();
        internal readonly Image _image;
        internal readonly string _uid;
        internal bool _approved;

        internal StructureSet(Patient patient, string id, Image image, bool approved)
        {
            _owner = patient;
            _id = id;
            _image = image;
            _approved = approved;
            _uid = StubRuntime.NewUid();
        }

        internal override string LockReason()
        {
            if (_approved)
            {
                return "Structure set '" + _id + "' is approved.";
            }
            if (!StubRuntime.PlansLockStructureSets || _owner == null)
            {
                return null;
            }
            // whether Eclipse locks the structure set of an approved or treated plan is not in the reference:
            // by default the stand-in does (the stricter reading; StubSystem.StructureSetLock)
            foreach (Course course in _owner._courses)
            {
                foreach (PlanSetup plan in course._plans)
                {
                    if (plan._structureSet == this
                        && (plan._approval != PlanSetupApprovalStatus.UnApproved || plan._treated))
                    {
                        return "Structure set '" + _id + "' is used by plan '" + course._id + "/" + plan._id + "' ("
                            + plan._approval + (plan._treated ? ", treated" : "") + ").";
                    }
                }
            }
            return null;
        }

        public IEnumerable<Structure> Structures { get { return StubRuntime.Seq(_structures); } }

        public Image Image { get { return _image; } }

        public string UID { get { return _uid; } }

        public Patient Patient { get { return _owner; } }

        public new string Id
        {
            get { return _id; }
            set
            {
                Guard("Id");
                RequireId(value, "Structure set");
                _id = value;
                Record("set_Id", value);
            }
        }

        /// <summary>"<paramref name="stem"/>" if free among the patient's structure sets, else the first free
        /// "stem_n" (stem shortened to keep 16 characters).</summary>
        internal static string FreeId(Patient patient, string stem)
        {
            Func<string, bool> taken = id => patient._structureSets.Any(
                s => string.Equals(s._id, id, StringComparison.OrdinalIgnoreCase));
            if (!string.IsNullOrEmpty(stem) && stem.Length <= 16 && !taken(stem))
            {
                return stem;
            }
            for (int n = 1; ; n++)
            {
                string suffix = "_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                string head = stem ?? "";
                head = head.Length + suffix.Length > 16 ? head.Substring(0, 16 - suffix.Length) : head;
                if (!taken(head + suffix))
                {
                    return head + suffix;
                }
            }
        }

        /// <summary>A new unapproved structure set on the same image with copies of every structure; an
        /// approved set may be copied (the copy is writable). Id: the first free "id_n" (assumption).</summary>
        public StructureSet Copy()
        {
            StubRuntime.Guard(_image, "StructureSet.Copy", true);
            StructureSet copy = new StructureSet(_owner, FreeId(_owner, _id), _image, false);
            foreach (Structure s in _structures)
            {
                Structure c = new Structure(copy, s._id, s._dicomType, s._roiNumber);
                c.CopyContoursFrom(s);
                copy._structures.Add(c);
            }
            _owner._structureSets.Add(copy);
            Record("Copy", copy._id);
            return copy;
        }

        public bool CanAddStructure(string dicomType, string id)
        {
            return _owner.CanModifyData() && _owner.ModificationsBegun && LockReason() == null
                && DicomTypes.Contains(dicomType) && !string.IsNullOrEmpty(id) && id.Length <= 16
                && !_structures.Any(s => string.Equals(s._id, id, StringComparison.OrdinalIgnoreCase));
        }

        public Structure AddStructure(string dicomType, string id)
        {
            Guard("AddStructure");
            if (!DicomTypes.Contains(dicomType))
            {
                throw new ArgumentException("Unknown DICOM type '" + dicomType + "'; allowed: "
                    + string.Join(", ", DicomTypes), "dicomType");
            }
            RequireId(id, "Structure");
            if (_structures.Any(s => string.Equals(s._id, id, StringComparison.OrdinalIgnoreCase)))
            {
                throw new ArgumentException("A structure with id '" + id + "' already exists.", "id");
            }
            Structure added = new Structure(this, id, dicomType, _structures.Count + 1);
            _structures.Add(added);
            Record("AddStructure", dicomType, id);
            return added;
        }

        public bool CanRemoveStructure(Structure structure)
        {
            return _owner.CanModifyData() && _owner.ModificationsBegun && LockReason() == null
                && structure != null && _structures.Contains(structure);
        }

        public void RemoveStructure(Structure structure)
        {
            Guard("RemoveStructure");
            if (structure == null || !_structures.Contains(structure))
            {
                throw new ArgumentException("The structure is not in this structure set.", "structure");
            }
            _structures.Remove(structure);
            Record("RemoveStructure", structure);
        }
    }

    public class Structure : ApiDataObject
    {
        internal readonly StructureSet _set;
        internal readonly string _dicomType;
        internal readonly int _roiNumber;
        /// <summary>The contours of each image plane that has any, with how each combined (Geometry.cs).</summary>
        internal readonly SortedDictionary<int, PlaneContours> _planes = new SortedDictionary<int, PlaneContours>();
        internal int _version;
        internal bool _highResolution;
        internal double? _assignedHu;
        private double _volumeCc;
        private VVector _centre = new VVector(double.NaN, double.NaN, double.NaN);
        private readonly Dictionary<DoseGrid, KeyValuePair<int, bool[]>> _masks =
            new Dictionary<DoseGrid, KeyValuePair<int, bool[]>>();

        internal Structure(StructureSet set, string id, string dicomType, int roiNumber)
        {
            _owner = set._owner;
            _set = set;
            _id = id;
            _dicomType = dicomType;
            _roiNumber = roiNumber;
        }

        internal override string LockReason()
        {
            return _set.LockReason();
        }

        private DoseGrid ImageGrid { get { return _set._image._grid; } }

        internal void CopyContoursFrom(Structure source)
        {
            foreach (KeyValuePair<int, PlaneContours> plane in source._planes)
            {
                _planes[plane.Key] = plane.Value.Clone();
            }
            _highResolution = source._highResolution;
            _assignedHu = source._assignedHu;
            Recompute();
        }

        /// <summary>Writes <paramref name="contour"/> on image plane <paramref name="z"/>, combined with the
        /// plane's segment by <paramref name="op"/>. A subtraction that leaves the plane empty removes the
        /// plane's contours (nothing is stored for a subtraction on a plane without contours).</summary>
        internal void AddContourInternal(VVector[] contour, int z, ContourOp op)
        {
            if (contour == null || contour.Length < 3)
            {
                throw new ArgumentException("A contour needs at least 3 points.", "contour");
            }
            if (z < 0 || z >= ImageGrid.Size[2])
            {
                throw new ArgumentOutOfRangeException("z", z, "image plane index out of range");
            }
            PlaneContours plane;
            if (!_planes.TryGetValue(z, out plane))
            {
                if (op == ContourOp.Subtract)
                {
                    return;
                }
                plane = new PlaneContours();
                _planes[z] = plane;
            }
            plane.Add((VVector[])contour.Clone(), Polygons.ToPlane(contour, ImageGrid), op);
            VVector unused;
            if (op == ContourOp.Subtract && !(plane.Measure(ImageGrid, z, out unused) > 0))
            {
                _planes.Remove(z);
            }
            Recompute();
        }

        private void Recompute()
        {
            _version++;
            _masks.Clear();
            double area = 0;
            VVector moment = new VVector(0, 0, 0);
            foreach (KeyValuePair<int, PlaneContours> plane in _planes)
            {
                VVector m;
                area += plane.Value.Measure(ImageGrid, plane.Key, out m);
                moment = moment + m;
            }
            double volume = area * ImageGrid.Spacing[2];
            _volumeCc = volume / 1000.0;
            _centre = area > 0 ? moment / area : new VVector(double.NaN, double.NaN, double.NaN);
        }

        /// <summary>Voxel-centre occupancy on a grid with the image's directions (each plane's contours
        /// combined as written, <see cref="PlaneContours"/>; nearest contour plane); cached per grid and
        /// contour version.</summary>
        internal bool[] MaskOn(DoseGrid grid)
        {
            KeyValuePair<int, bool[]> cached;
            if (_masks.TryGetValue(grid, out cached) && cached.Key == _version)
            {
                return cached.Value;
            }
            DoseGrid img = ImageGrid;
            if (!grid.SameDirection(img))
            {
                throw new NotSupportedException("The stand-in computes structure masks only on grids with the "
                    + "image's orientation.");
            }
            int nx = grid.Size[0], ny = grid.Size[1], nz = grid.Size[2];
            bool[] mask = new bool[grid.Count];
            double ui0, vj0, wk0;
            img.ToIndex(grid.OriginVector, out ui0, out vj0, out wk0);
            double u0 = ui0 * img.Spacing[0], v0 = vj0 * img.Spacing[1], w0 = wk0 * img.Spacing[2];
            List<double> crossings = new List<double>();
            for (int k = 0; k < nz; k++)
            {
                double w = w0 + k * grid.Spacing[2];
                PlaneContours plane;
                if (!_planes.TryGetValue((int)Math.Round(w / img.Spacing[2]), out plane))
                {
                    continue;
                }
                for (int j = 0; j < ny; j++)
                {
                    double v = v0 + j * grid.Spacing[1];
                    crossings.Clear();
                    plane.Intervals(v, crossings);
                    int row = (k * ny + j) * nx;
                    for (int c = 0; c + 1 < crossings.Count; c += 2)
                    {
                        int iStart = Math.Max(0, (int)Math.Ceiling((crossings[c] - u0) / grid.Spacing[0]));
                        int iEnd = Math.Min(nx - 1, (int)Math.Floor((crossings[c + 1] - u0) / grid.Spacing[0]));
                        for (int i = iStart; i <= iEnd; i++)
                        {
                            double u = u0 + i * grid.Spacing[0];
                            if (u >= crossings[c] && u < crossings[c + 1])
                            {
                                mask[row + i] = true;
                            }
                        }
                    }
                }
            }
            _masks[grid] = new KeyValuePair<int, bool[]>(_version, mask);
            return mask;
        }

        public VVector CenterPoint { get { return _centre; } }

        public string DicomType { get { return _dicomType; } }

        public bool HasSegment { get { return _planes.Count > 0; } }

        public bool IsEmpty { get { return _planes.Count == 0; } }

        public bool IsHighResolution { get { return _highResolution; } }

        public int ROINumber { get { return _roiNumber; } }

        /// <summary>cm³: the area of each plane's segment (its contours combined as written) × slice
        /// thickness.</summary>
        public double Volume { get { return _volumeCc; } }

        public new string Id
        {
            get { return _id; }
            set
            {
                Guard("Id");
                RequireId(value, "Structure");
                if (_set._structures.Any(s => s != this && string.Equals(s._id, value, StringComparison.OrdinalIgnoreCase)))
                {
                    throw new ArgumentException("A structure with id '" + value + "' already exists.");
                }
                _id = value;
                Record("set_Id", value);
            }
        }

        /// <summary>The contours as written on the plane (added and subtracted alike, in order); Eclipse
        /// returns the traced outline of the plane's segment (DEVIATIONS.md).</summary>
        public VVector[][] GetContoursOnImagePlane(int z)
        {
            PlaneContours plane;
            if (!_planes.TryGetValue(z, out plane))
            {
                return new VVector[0][];
            }
            return plane.Points.Select(c => (VVector[])c.Clone()).ToArray();
        }

        public bool IsPointInsideSegment(VVector point)
        {
            double fi, fj, fk;
            ImageGrid.ToIndex(point, out fi, out fj, out fk);
            PlaneContours plane;
            if (!_planes.TryGetValue((int)Math.Round(fk), out plane))
            {
                return false;
            }
            return plane.Inside(fi * ImageGrid.Spacing[0], fj * ImageGrid.Spacing[1]);
        }

        /// <summary>Adds the polygon's area to the plane's segment: by exclusive-or (the default) or by union,
        /// as the stand-in is configured (StubSystem.ContourAddition; Eclipse's behaviour is unconfirmed,
        /// DEVIATIONS.md).</summary>
        public void AddContourOnImagePlane(VVector[] contour, int z)
        {
            Guard("AddContourOnImagePlane");
            AddContourInternal(contour, z, StubRuntime.ContourAddUnion ? ContourOp.Union : ContourOp.Xor);
            Record("AddContourOnImagePlane", contour == null ? 0 : contour.Length, z);
        }

        /// <summary>Removes the polygon's area from the plane's segment.</summary>
        public void SubtractContourOnImagePlane(VVector[] contour, int z)
        {
            Guard("SubtractContourOnImagePlane");
            AddContourInternal(contour, z, ContourOp.Subtract);
            Record("SubtractContourOnImagePlane", contour == null ? 0 : contour.Length, z);
        }

        public void ClearAllContoursOnImagePlane(int z)
        {
            Guard("ClearAllContoursOnImagePlane");
            _planes.Remove(z);
            Recompute();
            Record("ClearAllContoursOnImagePlane", z);
        }

        public bool CanConvertToHighResolution()
        {
            return !_highResolution;
        }

        public void ConvertToHighResolution()
        {
            Guard("ConvertToHighResolution");
            if (_highResolution)
            {
                throw new InvalidOperationException("Structure '" + _id + "' is already high resolution.");
            }
            _highResolution = true;
            Record("ConvertToHighResolution");
        }

        public bool GetAssignedHU(out double huValue)
        {
            huValue = _assignedHu.HasValue ? _assignedHu.Value : double.NaN;
            return _assignedHu.HasValue;
        }

        public bool CanSetAssignedHU(out string errorMessage)
        {
            errorMessage = LockReason() ?? "";
            return errorMessage.Length == 0;
        }

        public void SetAssignedHU(double huValue)
        {
            Guard("SetAssignedHU");
            _assignedHu = huValue;
            Record("SetAssignedHU", huValue);
        }

        public bool ResetAssignedHU()
        {
            Guard("ResetAssignedHU");
            bool had = _assignedHu.HasValue;
            _assignedHu = null;
            Record("ResetAssignedHU");
            return had;
        }

        public bool CanEditSegmentVolume(out string errorMessage)
        {
            errorMessage = LockReason() ?? "";
            return errorMessage.Length == 0;
        }

        /// <summary>Get: the voxels of the image whose centres are inside the contours. Set: the contours
        /// become one rectangle per run of voxels (voxel edges), so Volume is voxel count × voxel volume.</summary>
        public SegmentVolume SegmentVolume
        {
            get { return new SegmentVolume(_set._image, (bool[])MaskOn(ImageGrid).Clone()); }
            set
            {
                Guard("SegmentVolume");
                if (value == null)
                {
                    throw new ArgumentNullException("value");
                }
                if (value._image != _set._image)
                {
                    throw new ArgumentException("The segment belongs to another image than structure '" + _id + "'.");
                }
                _planes.Clear();
                foreach (KeyValuePair<int, List<VVector[]>> plane in value.ToContours())
                {
                    PlaneContours contours = new PlaneContours();
                    foreach (VVector[] c in plane.Value)
                    {
                        contours.Add(c, Polygons.ToPlane(c, ImageGrid), ContourOp.Xor);
                    }
                    _planes[plane.Key] = contours;
                }
                Recompute();
                Record("set_SegmentVolume", _planes.Values.Sum(p => p.Points.Count));
            }
        }

        public SegmentVolume And(SegmentVolume other)
        {
            return SegmentVolume.And(other);
        }

        public SegmentVolume Or(SegmentVolume other)
        {
            return SegmentVolume.Or(other);
        }

        public SegmentVolume Sub(SegmentVolume other)
        {
            return SegmentVolume.Sub(other);
        }

        public SegmentVolume Xor(SegmentVolume other)
        {
            return SegmentVolume.Xor(other);
        }

        public SegmentVolume Not()
        {
            return SegmentVolume.Not();
        }

        public SegmentVolume Margin(double marginInMM)
        {
            return SegmentVolume.Margin(marginInMM);
        }

        public SegmentVolume AsymmetricMargin(AxisAlignedMargins margins)
        {
            return SegmentVolume.AsymmetricMargin(margins);
        }

        public static implicit operator SegmentVolume(Structure structure)
        {
            return structure == null ? null : structure.SegmentVolume;
        }
    }

    public class Registration : ApiDataObject
    {
        private readonly double[,] _m;
        private readonly string _source;
        private readonly string _registered;
        private readonly DateTime? _created;
        private readonly string _uid;

        internal Registration(Patient patient, string id, string sourceFor, string registeredFor, double[] m16,
            DateTime? created)
        {
            if (m16 == null || m16.Length != 16)
            {
                throw new ArgumentException("registration: 16 matrix elements (row-major) expected");
            }
            _owner = patient;
            _id = id;
            _source = sourceFor;
            _registered = registeredFor;
            _created = created;
            _uid = StubRuntime.NewUid();
            _m = new double[4, 4];
            for (int r = 0; r < 4; r++)
            {
                for (int c = 0; c < 4; c++)
                {
                    _m[r, c] = m16[4 * r + c];
                }
            }
        }

        public DateTime? CreationDateTime { get { return _created; } }

        public string RegisteredFOR { get { return _registered; } }

        public string SourceFOR { get { return _source; } }

        /// <summary>4×4, [row, column], column-vector convention: registered = M · (source, 1).</summary>
        public double[,] TransformationMatrix { get { return (double[,])_m.Clone(); } }

        public DateTime? StatusDateTime { get { return _created; } }

        public string StatusUserName { get { return "reirrad-stub"; } }

        public string StatusUserDisplayName { get { return "reirrad stub user"; } }

        public string UID { get { return _uid; } }

        public VVector TransformPoint(VVector pt)
        {
            return new VVector(
                _m[0, 0] * pt.x + _m[0, 1] * pt.y + _m[0, 2] * pt.z + _m[0, 3],
                _m[1, 0] * pt.x + _m[1, 1] * pt.y + _m[1, 2] * pt.z + _m[1, 3],
                _m[2, 0] * pt.x + _m[2, 1] * pt.y + _m[2, 2] * pt.z + _m[2, 3]);
        }

        public VVector InverseTransformPoint(VVector pt)
        {
            double a = _m[0, 0], b = _m[0, 1], c = _m[0, 2];
            double d = _m[1, 0], e = _m[1, 1], f = _m[1, 2];
            double g = _m[2, 0], h = _m[2, 1], k = _m[2, 2];
            double det = a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g);
            if (Math.Abs(det) < 1e-12)
            {
                throw new InvalidOperationException("The registration matrix is singular.");
            }
            double x = pt.x - _m[0, 3], y = pt.y - _m[1, 3], z = pt.z - _m[2, 3];
            return new VVector(
                ((e * k - f * h) * x - (b * k - c * h) * y + (b * f - c * e) * z) / det,
                (-(d * k - f * g) * x + (a * k - c * g) * y - (a * f - c * d) * z) / det,
                ((d * h - e * g) * x - (a * h - b * g) * y + (a * e - b * d) * z) / det);
        }
    }
}
