using System;
using System.Globalization;

namespace VMS.TPS.Common.Model.API
{
    /// <summary>Base of the ESAPI object model (no public members in the stand-in).</summary>
    public abstract class SerializableObject
    {
        internal SerializableObject()
        {
        }
    }

    /// <summary>Base of the data objects: Id, Name, Comment, history.</summary>
    public abstract class ApiDataObject : SerializableObject
    {
        internal string _id = "";
        internal string _name = "";
        internal string _comment = "";
        internal Patient _owner;

        protected ApiDataObject()
        {
        }

        public string Id { get { return _id; } }

        public string Name { get { return _name; } }

        public string Comment { get { return _comment; } }

        public string HistoryUserName { get { return "reirrad-stub"; } }

        public string HistoryUserDisplayName { get { return "reirrad stub user"; } }

        public DateTime HistoryDateTime { get { return new DateTime(2026, 1, 5, 9, 0, 0); } }

        public override string ToString()
        {
            return _id;
        }

        public override bool Equals(object obj)
        {
            return ReferenceEquals(this, obj);
        }

        public override int GetHashCode()
        {
            return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
        }

        public static bool operator ==(ApiDataObject a, ApiDataObject b)
        {
            return ReferenceEquals(a, b);
        }

        public static bool operator !=(ApiDataObject a, ApiDataObject b)
        {
            return !ReferenceEquals(a, b);
        }

        /// <summary>The patient this object belongs to (for the write guard).</summary>
        internal virtual Patient OwnerPatient { get { return _owner; } }

        /// <summary>Why this object is locked against modification, or null.</summary>
        internal virtual string LockReason()
        {
            return null;
        }

        internal void Guard(string member, bool clinical = true)
        {
            StubRuntime.Guard(this, GetType().Name + "." + member, clinical);
        }

        internal void Record(string member, params object[] args)
        {
            StubRuntime.Record(this, member, args);
        }

        internal static void RequireId(string value, string what)
        {
            if (string.IsNullOrEmpty(value) || value.Length > 16)
            {
                throw new ArgumentException(string.Format(CultureInfo.InvariantCulture,
                    "{0} id must have 1 to 16 characters (got '{1}').", what, value));
            }
        }
    }
}
