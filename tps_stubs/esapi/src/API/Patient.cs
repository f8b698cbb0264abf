using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using VMS.TPS.Common.Model.Types;

namespace VMS.TPS.Common.Model.API
{
    public class Patient : ApiDataObject
    {
        internal readonly List<Course> _courses = new List<Course>();
        internal readonly List<StructureSet> _structureSets = new List<StructureSet>();
        internal readonly List<Image> _images = new List<Image>();
        internal readonly List<Registration> _registrations = new List<Registration>();
        internal string _firstName = "";
        internal string _lastName = "";
        internal string _middleName = "";
        internal string _sex = "Unknown";
        internal DateTime? _dateOfBirth;
        internal bool ModificationsBegun;
        internal bool IsClosed;
        private bool _modified;

        internal Patient()
        {
            _owner = this;
        }

        internal override Patient OwnerPatient { get { return this; } }

        internal void MarkModified()
        {
            _modified = true;
        }

        public IEnumerable<Course> Courses { get { return StubRuntime.Seq(_courses); } }

        public DateTime? CreationDateTime { get { return new DateTime(2024, 4, 2, 10, 0, 0); } }

        public DateTime? DateOfBirth { get { return _dateOfBirth; } }

        public string FirstName
        {
            get { return _firstName; }
            set
            {
                Guard("FirstName");
                _firstName = value;
                Record("set_FirstName", value);
            }
        }

        public string LastName
        {
            get { return _lastName; }
            set
            {
                Guard("LastName");
                _lastName = value;
                Record("set_LastName", value);
            }
        }

        public string MiddleName
        {
            get { return _middleName; }
            set
            {
                Guard("MiddleName");
                _middleName = value;
                Record("set_MiddleName", value);
            }
        }

        public bool HasModifiedData { get { return _modified; } }

        public string Id2 { get { return ""; } }

        public string PrimaryOncologistId { get { return ""; } }

        public IEnumerable<Registration> Registrations { get { return StubRuntime.Seq(_registrations); } }

        public string Sex { get { return _sex; } }

        public string SSN { get { return ""; } }

        public IEnumerable<StructureSet> StructureSets { get { return StubRuntime.Seq(_structureSets); } }

        public void BeginModifications()
        {
            ModificationsBegun = true;
        }

        public bool CanModifyData()
        {
            return StubRuntime.SessionWriteable() && !IsClosed;
        }

        public bool CanAddCourse()
        {
            return CanModifyData() && ModificationsBegun;
        }

        public Course AddCourse()
        {
            Guard("AddCourse");
            int n = 1;
            while (_courses.Any(c => c.Id == "C" + n.ToString(CultureInfo.InvariantCulture)))
            {
                n++;
            }
            Course course = new Course(this, "C" + n.ToString(CultureInfo.InvariantCulture), null, null);
            _courses.Add(course);
            Record("AddCourse");
            return course;
        }

        public bool CanRemoveCourse(Course course)
        {
            return StubRuntime.ResearchMode && CanModifyData() && ModificationsBegun && course != null
                && _courses.Contains(course) && !course._plans.Any() && course.LockReason() == null;
        }

        /// <summary>Research-only in 15.1-15.6 (non-clinical guard).</summary>
        public void RemoveCourse(Course course)
        {
            Guard("RemoveCourse", clinical: false);
            if (course == null || !_courses.Contains(course))
            {
                throw new ArgumentException("The course does not belong to this patient.", "course");
            }
            if (course._plans.Any())
            {
                throw new InvalidOperationException("Course '" + course.Id + "' has plans and cannot be removed.");
            }
            string locked = course.LockReason();
            if (locked != null)
            {
                throw new InvalidOperationException(locked);
            }
            _courses.Remove(course);
            Record("RemoveCourse", course);
        }
    }

    public class PatientSummary : SerializableObject
    {
        private readonly string _id;

        internal PatientSummary(string id)
        {
            _id = id;
        }

        public DateTime? CreationDateTime { get { return null; } }

        public DateTime? DateOfBirth { get { return null; } }

        public string FirstName { get { return ""; } }

        public string Id { get { return _id; } }

        public string Id2 { get { return ""; } }

        public string LastName { get { return ""; } }

        public string MiddleName { get { return ""; } }

        public string Sex { get { return ""; } }

        public string SSN { get { return ""; } }
    }
}
